import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import WebSocket from 'ws';
import type autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { cbor, json, msgpack } from '../../../src/router/wamp/serializers.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir } from './helpers.js';
import { exchange, frame, handshake } from './raw.js';

// 100 000+ malformed handshakes, frames and messages over RawSocket and WebSocket while a
// well-behaved session (autobahn-js on a Unix socket) keeps calling a procedure: the router must not
// crash, the good session must never fail, sessions and heap must return to their baseline.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const TOTAL = { handshakes: 12_000 * SCALE, frames: 12_000 * SCALE, messageConnections: 3_000 * SCALE, websocket: 1_500 * SCALE };
const phase = (name: string, t0: number, extra = '') => process.env.FUZZ_DEBUG && console.error(`fuzz ${name}: ${Date.now() - t0} ms ${extra}`);
const mem = memoryLogger('error');
const tmp = tempDir('bwt-rt-fuzz-');
const sock = join(tmp.dir, 'good.sock');
let r: RunningRouter;

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket', 'wampcra', 'cryptosign'], helloRate: { perSecond: 1e6, burst: 1e6 } },
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], helloRate: { perSecond: 1e6, burst: 1e6 } },
        { type: 'rawsocket', path: sock, component: 'good' },
      ],
      components: [{ name: 'good', realm: 'app', role: 'backend' }],
      auth: { anonymous: { role: 'public' } },
      limits: { openHandshakeTimeoutMs: 500, sessionOpenTimeoutMs: 1000 },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await r?.close();
  tmp.cleanup();
});

const SERS = [json, msgpack, cbor];
const HELLO = [1, 'app', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} }, authmethods: ['anonymous'] }];
const codes = fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 16, 17, 32, 33, 34, 35, 36, 48, 49, 50, 64, 65, 66, 67, 68, 69, 70, 337, 0, -1, 2 ** 53, 1.5);
// (never com.example.echo: that is the good session's procedure)
const uriish = fc.oneof(fc.constantFrom('com.example.echo2', 'com.example.', 'wamp.session.count', 'app', '', '..', 'a b', 'com.example.secret'), fc.string());
const wampish = fc.oneof(
  fc.tuple(codes, fc.array(fc.oneof(fc.integer(), fc.double(), uriish, fc.dictionary(fc.string(), fc.anything()), fc.anything()), { maxLength: 6 })).map(([c, rest]) => [c, ...rest]),
  fc.tuple(
    codes,
    fc.nat(),
    fc.dictionary(fc.constantFrom('match', 'invoke', 'exclude', 'eligible', 'receive_progress', 'timeout', 'mode', 'acknowledge', 'disclose_me', 'exclude_me', 'enc_algo'), fc.anything()),
    uriish,
    fc.anything(),
  ),
  fc.anything(),
);

const id = fc.oneof(fc.nat(), fc.constant(0), fc.constant(2 ** 53));
const args = fc.array(fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null)), { maxLength: 3 });
/** Well-shaped requests the router must refuse or ignore without ending the session. */
const nonFatal = fc.oneof(
  fc.tuple(fc.constant(48), id, fc.record({ timeout: fc.nat(50), receive_progress: fc.boolean() }, { requiredKeys: [] }), uriish, args),
  fc.tuple(fc.constant(32), id, fc.record({ match: fc.constantFrom('exact', 'prefix', 'wildcard') }, { requiredKeys: [] }), uriish),
  fc.tuple(fc.constant(16), id, fc.record({ acknowledge: fc.boolean(), exclude: fc.array(fc.nat()), exclude_me: fc.boolean() }, { requiredKeys: [] }), uriish, args),
  fc.tuple(fc.constant(64), id, fc.record({ match: fc.constantFrom('exact', 'prefix', 'wildcard'), invoke: fc.constantFrom('single', 'roundrobin', 'last') }, { requiredKeys: [] }), uriish),
  fc.tuple(fc.constantFrom(34, 66), id, id),
  fc.tuple(fc.constant(70), id, fc.record({ progress: fc.boolean() }, { requiredKeys: [] }), args),
  fc.tuple(fc.constant(8), fc.constant(68), id, fc.constant({}), uriish, args),
  fc.tuple(fc.constant(49), id, fc.record({ mode: fc.constantFrom('skip', 'kill', 'killnowait') }, { requiredKeys: [] })),
);
/** Mostly non-fatal requests, sometimes anything at all (which usually ends the session). */
const batch = fc.array(fc.oneof({ weight: 30, arbitrary: nonFatal }, { weight: 1, arbitrary: wampish }), { minLength: 20, maxLength: 60 });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((res) => setTimeout(res, 20));
  }
  return process.memoryUsage().heapUsed;
};

/** Runs `n` async jobs with bounded concurrency. */
async function pool(n: number, concurrency: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

describe('fuzz', () => {
  it('survives 100 000 malformed inputs while a good session keeps calling', async () => {
    const good = await abConnect({ transports: [{ type: 'rawsocket', path: sock }], realm: 'app' } as unknown as autobahn.IConnectionOptions);
    await good.session.register('com.example.echo', (args) => args?.[0]);
    let calls = 0;
    let failures = 0;
    let running = true;
    const caller = (async () => {
      while (running) {
        try {
          const v = Math.random();
          const answer = await Promise.race([good.session.call('com.example.echo', [v]), new Promise((res) => setTimeout(() => res('no answer in 10 s'), 10_000))]);
          if (answer !== v) failures++;
          calls++;
        } catch {
          failures++;
        }
        await new Promise((res) => setTimeout(res, 2));
      }
    })();
    const baseSessions = r.router.sessions.size;
    const realm = r.router.realm('app')!;
    const base = { subs: realm.broker.subscriptionCount, regs: realm.dealer.registrationCount };
    const heap0 = await heapAfterGc();
    const port = r.port(0);
    const seed = 20261123;
    let t0 = Date.now();

    await (async () => {
      // 1. handshakes: arbitrary bytes, mostly starting with the magic byte; the client ends its side
      const hs = fc.sample(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 8 }),
          fc.uint8Array({ minLength: 3, maxLength: 8 }).map((b) => ((b[0] = 0x7f), b)),
        ),
        { numRuns: TOTAL.handshakes, seed },
      );
      t0 = Date.now();
      await pool(hs.length, 64, async (i) => {
        await exchange({ port }, Buffer.from(hs[i]!), { end: true, timeoutMs: 2000 });
      });

      phase('handshakes', t0, `calls=${calls} failures=${failures} open=${good.connection.isOpen}`);
      t0 = Date.now();
      // 2. frames after a good handshake: random headers (type, reserved bits, lengths) and payloads
      const fr = fc.sample(fc.tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ minLength: 1, maxLength: 64 })), { numRuns: TOTAL.frames, seed: seed + 1 });
      await pool(fr.length, 64, async (i) => {
        const [ser, bytes] = fr[i]!;
        await exchange({ port }, Buffer.concat([handshake(ser), Buffer.from(bytes)]), { end: true, timeoutMs: 2000 });
      });

      phase('frames', t0, `calls=${calls} failures=${failures} open=${good.connection.isOpen}`);
      t0 = Date.now();
      // 3. well-framed but malformed or refused messages, before and after a good HELLO, in every serializer
      const ms = fc.sample(fc.tuple(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 9 }), batch), { numRuns: TOTAL.messageConnections, seed: seed + 2 });
      await pool(ms.length, 32, async (i) => {
        const [si, hello, msgs] = ms[i]!;
        const ser = SERS[si]!;
        const parts: Buffer[] = [handshake(ser.rawsocket)];
        if (hello > 0) parts.push(frame(ser.encode(HELLO)));
        for (const m of msgs) {
          let b: Buffer;
          try {
            b = ser.encode(m);
          } catch {
            b = Buffer.from([0xc1, 0xff]);
          }
          parts.push(frame(b));
        }
        await exchange({ port }, Buffer.concat(parts), { end: true, timeoutMs: 3000 });
      });
      phase('messages', t0, `calls=${calls} failures=${failures} open=${good.connection.isOpen}`);
      t0 = Date.now();
      // 4. WebSocket: random text/binary payloads and WAMP-ish messages after a good HELLO
      const wsUrl = `ws://127.0.0.1:${r.port(1)}/`;
      const wsIn = fc.sample(fc.tuple(fc.constantFrom(0, 1, 2), fc.boolean(), batch, fc.oneof(fc.uint8Array({ maxLength: 64 }), wampish)), { numRuns: TOTAL.websocket, seed: seed + 3 });
      await pool(wsIn.length, 32, async (i) => {
        const [si, hello, msgs, input] = wsIn[i]!;
        const ser = SERS[si]!;
        await new Promise<void>((resolve) => {
          const ws = new WebSocket(wsUrl, [ser.subprotocol], { perMessageDeflate: i % 2 === 0 });
          const t = setTimeout(() => ws.terminate(), 2000);
          ws.on('error', () => undefined);
          ws.on('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.on('open', () => {
            if (hello) ws.send(ser.encode(HELLO), { binary: ser.binary });
            for (const m of msgs) {
              try {
                ws.send(ser.encode(m), { binary: ser.binary });
              } catch {
                /* unencodable: skip */
              }
            }
            let b: Buffer;
            try {
              b = input instanceof Uint8Array ? Buffer.from(input) : ser.encode(input);
            } catch {
              b = Buffer.from('\u0000');
            }
            ws.send(b, { binary: i % 3 === 0 });
            ws.close();
          });
        });
      });
    })();
    phase('websocket', t0, `calls=${calls} failures=${failures} open=${good.connection.isOpen}`);
    running = false;
    await caller;
    // inputs the router took in: connections (each a handshake) + messages it decoded and handled
    const inputs = r.router.stats.connections + r.router.stats.messages;
    phase('total', t0, `inputs=${inputs} (connections=${r.router.stats.connections}, messages=${r.router.stats.messages})`);
    expect(inputs).toBeGreaterThanOrEqual(100_000 * SCALE);
    expect(failures).toBe(0);
    expect(calls).toBeGreaterThan(100);
    expect(good.connection.isOpen).toBe(true);
    // every fuzz session is gone; memory back near its baseline
    const end = Date.now() + 10_000;
    while (r.router.sessions.size > baseSessions && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    expect(r.router.sessions.size).toBe(baseSessions);
    expect({ subs: realm.broker.subscriptionCount, regs: realm.dealer.registrationCount }).toEqual(base);
    const heapGrowth = (await heapAfterGc()) - heap0;
    phase('heap', t0, `growth=${Math.round(heapGrowth / 1024)} KiB`);
    expect(heapGrowth).toBeLessThan(16 * 1024 * 1024);
    expect(mem.lines.filter((l) => l.msg === 'error handling message')).toEqual([]);
    await closeAb(good);
  }, 180_000);
});
