import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { baseRealm, memoryLogger, until } from './helpers.js';
import { exchange, frame, handshake } from './raw.js';

// RawSocket handshake and framing rules with every error code, open-handshake timeout, PING/PONG,
// the session cap, the HELLO rate limit and a slow consumer cut off with bounded memory.
const mem = memoryLogger();
let r: RunningRouter;
let capped: RunningRouter;
const HELLO = JSON.stringify([1, 'app', { roles: { subscriber: {}, publisher: {} }, authmethods: ['anonymous'] }]);

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], serializers: ['json', 'cbor'], helloRate: { perSecond: 0.05, burst: 3 } },
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], helloRate: { perSecond: 1000, burst: 1000 } },
      ],
      auth: { anonymous: { role: 'public' } },
      limits: { openHandshakeTimeoutMs: 300, maxOutboundQueueBytes: 256 * 1024 },
    },
    { log: mem.log },
  );
  capped = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
      ],
      auth: { anonymous: { role: 'public' } },
      limits: { maxSessions: 2 },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await r?.close();
  await capped?.close();
});

const rs = () => ({ port: r.port(0) });

describe('RawSocket handshake', () => {
  it('accepts a good handshake with our length exponent (1 MiB → 11)', async () => {
    const { data } = await exchange(rs(), handshake(1, 15), { timeoutMs: 200 });
    expect([...data.subarray(0, 4)]).toEqual([0x7f, (11 << 4) | 1, 0, 0]);
  });
  it('error 1: serializer unsupported (msgpack not on this listener, 0, 9)', async () => {
    for (const ser of [2, 0, 9]) {
      const { data, closed } = await exchange(rs(), handshake(ser));
      expect([...data]).toEqual([0x7f, 0x10, 0, 0]);
      expect(closed).toBe(true);
    }
  });
  it('error 2: maximum message length unacceptable (512 bytes)', async () => {
    expect([...(await exchange(rs(), handshake(1, 0))).data]).toEqual([0x7f, 0x20, 0, 0]);
  });
  it('error 3: use of reserved bits', async () => {
    expect([...(await exchange(rs(), Buffer.from([0x7f, 0xf1, 0, 1]))).data]).toEqual([0x7f, 0x30, 0, 0]);
  });
  it('error 4: maximum connection count reached', async () => {
    const held = [connect(capped.port(0), '127.0.0.1'), connect(capped.port(0), '127.0.0.1')];
    for (const s of held) s.write(handshake(1));
    await until(() => capped.router.sessions.size === 2);
    expect([...(await exchange({ port: capped.port(0) }, handshake(1))).data]).toEqual([0x7f, 0x40, 0, 0]);
    // and WebSocket answers 503
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${capped.port(1)}/`, ['wamp.2.json']);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(503);
    for (const s of held) s.destroy();
    await until(() => capped.router.sessions.size === 0);
  });
  it('drops a bad magic byte without answering', async () => {
    expect(await exchange(rs(), Buffer.from([0x47, 0x45, 0x54, 0x20]))).toEqual({ data: Buffer.alloc(0), closed: true });
  });
  it('drops a connection that does not finish the handshake in time', async () => {
    const t0 = Date.now();
    const res = await exchange(rs(), Buffer.from([0x7f]), { timeoutMs: 3000 });
    expect(res.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});

describe('RawSocket frames', () => {
  it('answers PING with PONG carrying the same payload', async () => {
    const { data } = await exchange(rs(), Buffer.concat([handshake(1), frame('abc', 1)]), { timeoutMs: 300 });
    expect(data.subarray(4)).toEqual(frame('abc', 2));
  });
  it('drops frames with reserved bits, unknown types or over the length we announced', async () => {
    for (const bad of [frame('x', 0x08), frame('x', 3), Buffer.from([0, 0x10, 0, 1])]) {
      const res = await exchange(rs(), Buffer.concat([handshake(1), bad]));
      expect(res.closed).toBe(true);
      expect(res.data.length).toBe(4); // only our handshake reply
    }
  });
  it('reads frames however the stream splits them (inside headers, mid-payload, many per read)', async () => {
    // one session's bytes in pieces of 1..300 bytes, each piece its own read on the router's side
    const publishes = 60;
    const parts: Buffer[] = [handshake(1), frame(HELLO), frame(JSON.stringify([32, 1, {}, 'com.example.split']))];
    for (let i = 1; i <= publishes; i++) {
      parts.push(frame(JSON.stringify([16, i, { acknowledge: true, exclude_me: false }, 'com.example.split', ['x'.repeat(i * 7)]])));
      if (i % 10 === 0) parts.push(frame(`ping${i}`, 1));
    }
    const stream = Buffer.concat(parts);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(r.port(2), '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('error', reject);
      s.on('connect', async () => {
        s.setNoDelay(true);
        for (let at = 0; at < stream.length; ) {
          const n = 1 + Math.floor(rand() * 300);
          s.write(stream.subarray(at, at + n));
          at += n;
          await new Promise((res) => setTimeout(res, 1));
        }
        setTimeout(() => {
          s.destroy();
          resolve(Buffer.concat(chunks));
        }, 300);
      });
    });
    // the router's frames: PONGs, and WAMP messages (WELCOME, SUBSCRIBED, then EVENT + PUBLISHED per publish)
    const pongs: string[] = [];
    const msgs: unknown[][] = [];
    for (let pos = 4; pos < got.length; ) {
      const len = got.readUIntBE(pos + 1, 3);
      const payload = got.subarray(pos + 4, pos + 4 + len);
      if (got[pos] === 2) pongs.push(payload.toString());
      else msgs.push(JSON.parse(payload.toString()) as unknown[]);
      pos += 4 + len;
    }
    expect(pongs).toEqual(Array.from({ length: publishes / 10 }, (_, i) => `ping${(i + 1) * 10}`));
    expect(msgs.filter((m) => m[0] === 17).map((m) => m[1])).toEqual(Array.from({ length: publishes }, (_, i) => i + 1));
    expect(msgs.filter((m) => m[0] === 36).map((m) => (m[4] as string[])[0]!.length)).toEqual(Array.from({ length: publishes }, (_, i) => (i + 1) * 7));
  });
  it('ABORTs an undecodable or misshapen message with protocol_violation', async () => {
    for (const bad of ['{nope', '[1,2,3]', '"x"', '[999]']) {
      const { data, closed } = await exchange(rs(), Buffer.concat([handshake(1), frame(bad)]));
      expect(closed).toBe(true);
      const msg = JSON.parse(data.subarray(8).toString()) as unknown[];
      expect(msg[0]).toBe(3);
      expect(msg[2]).toBe('wamp.error.protocol_violation');
    }
  });
});

describe('limits', () => {
  it('rate-limits HELLO per source address', async () => {
    const results: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const { data } = await exchange(rs(), Buffer.concat([handshake(1), frame(HELLO)]), { timeoutMs: 300 });
      results.push((JSON.parse(data.subarray(8).toString()) as unknown[])[0]);
    }
    expect(results.slice(0, 3)).toEqual([2, 2, 2]); // WELCOME within the burst
    expect(results.slice(3)).toEqual([3, 3]); // then ABORT
    expect(mem.lines.some((l) => l.msg === 'HELLO rate limit hit')).toBe(true);
  });

  it('cuts off a slow consumer and memory stays bounded', async () => {
    // subscriber that never reads
    const slow = connect(r.port(2), '127.0.0.1');
    slow.write(Buffer.concat([handshake(1), frame(HELLO), frame(JSON.stringify([32, 1, {}, 'com.example.flood']))]));
    await until(() => [...r.router.sessions].some((s) => s.subscriptions.size > 0), 5000, 'subscription');
    slow.pause();
    const slowSession = [...r.router.sessions].find((s) => s.subscriptions.size > 0)!;
    const slowClosed = () => !r.router.sessions.has(slowSession);
    // publisher floods 64 KiB events
    const pub = connect(r.port(2), '127.0.0.1');
    pub.write(Buffer.concat([handshake(1), frame(HELLO)]));
    await until(() => r.router.sessions.size >= 2);
    const rss0 = process.memoryUsage().rss;
    const dropped0 = r.router.stats.slowConsumers;
    const big = JSON.stringify([16, 1, {}, 'com.example.flood', ['x'.repeat(64 * 1024)]]);
    for (let i = 0; i < 2000 && !slowClosed(); i++) {
      pub.write(frame(big));
      if (i % 50 === 0) await new Promise((res) => setTimeout(res, 5));
    }
    await until(() => mem.lines.some((l) => l.msg === 'slow consumer cut off') && slowClosed(), 10_000, 'slow consumer cut-off');
    expect(r.router.stats.slowConsumers).toBe(dropped0 + 1); // bulwark_router_slow_consumers_dropped_total
    const grown = process.memoryUsage().rss - rss0;
    expect(grown).toBeLessThan(200 * 1024 * 1024);
    pub.destroy();
    slow.destroy();
  });
});

describe('auto-ping', () => {
  it('pings idle RawSocket peers where the listener asks (autoPing: true) and keeps those that answer (autobahn-js), drops those that do not', async () => {
    const { startRouter: start } = await import('../../../src/router/index.js');
    const { abConnect: ab, closeAb: close } = await import('./helpers.js');
    const fast = await start(
      {
        realms: [baseRealm()],
        listeners: [{ type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], autoPing: true }],
        auth: { anonymous: { role: 'public' } },
        limits: { autoPingIntervalMs: 200, autoPingTimeoutMs: 150 },
      },
      { log: mem.log },
    );
    try {
      const c = await ab({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: fast.port(0) }], realm: 'app' } as never);
      const mute = connect(fast.port(0), '127.0.0.1');
      mute.write(Buffer.concat([handshake(1), frame(HELLO)]));
      mute.pause(); // never reads, never answers PING
      await until(() => fast.router.sessions.size === 2);
      await new Promise((res) => setTimeout(res, 1000));
      expect(fast.router.sessions.size).toBe(1);
      expect(c.connection.isOpen).toBe(true);
      await close(c);
      mute.destroy();
    } finally {
      await fast.close();
    }
  });
  it('does not ping RawSocket peers by default (Unix socket and TCP): one that never answers PING stays', async () => {
    const { startRouter: start } = await import('../../../src/router/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'bw-ping-'));
    const path = join(dir, 'c.sock');
    const fast = await start(
      {
        realms: [baseRealm()],
        listeners: [
          { type: 'rawsocket', path, auth: ['anonymous'] },
          { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        ],
        auth: { anonymous: { role: 'public' } },
        limits: { autoPingIntervalMs: 200, autoPingTimeoutMs: 150 },
      },
      { log: mem.log },
    );
    try {
      const mutes = [connect(path), connect(fast.port(1), '127.0.0.1')];
      const got: Buffer[][] = [[], []];
      mutes.forEach((m, i) => {
        m.on('data', (d) => got[i]!.push(d));
        m.write(Buffer.concat([handshake(1), frame(HELLO)]));
      });
      await until(() => fast.router.sessions.size === 2);
      await new Promise((res) => setTimeout(res, 1000));
      expect(fast.router.sessions.size).toBe(2);
      for (const g of got) {
        const bytes = Buffer.concat(g);
        // the handshake reply, then the WELCOME frame only: no PING (frame type 1)
        const welcome = bytes.subarray(4);
        expect(welcome[0]).toBe(0);
        expect(welcome.length).toBe(4 + welcome.readUIntBE(1, 3));
      }
      for (const m of mutes) m.destroy();
    } finally {
      await fast.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WebSocket options', () => {
  it('negotiates permessage-deflate with 13 window bits and drops messages over 1 MiB', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${r.port(1)}/`, ['wamp.2.json'], {
      // true offers client_max_window_bits without a value (ws takes it; its types say number only)
      perMessageDeflate: { clientMaxWindowBits: true as unknown as number, serverMaxWindowBits: 15 },
    });
    const opened = new Promise((res) => ws.on('open', res));
    const ext = await new Promise<string>((res, rej) => {
      ws.on('upgrade', (resp) => res(String(resp.headers['sec-websocket-extensions'] ?? '')));
      ws.on('error', rej);
    });
    expect(ext).toMatch(/permessage-deflate/);
    expect(ext).toMatch(/server_max_window_bits=13/);
    await opened;
    const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)));
    const t0 = Date.now();
    ws.send(JSON.stringify([1, 'app', { roles: { caller: {} }, pad: 'x'.repeat(1024 * 1024 + 10) }]));
    expect([1006, 1009]).toContain(await closed); // message too big, connection dropped
    expect(Date.now() - t0).toBeLessThan(900); // no waiting for a close handshake
  });

  it('fails by drop: a bad frame ends the TCP connection with no close frame', async () => {
    const s = connect(r.port(1), '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (b: Buffer) => (got = Buffer.concat([got, b])));
    const closed = new Promise<void>((res) => s.on('close', () => res()));
    s.write(
      [
        'GET / HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: wamp.2.json',
        '',
        '',
      ].join('\r\n'),
    );
    await until(() => got.includes('\r\n\r\n'), 2000);
    const headerEnd = got.indexOf('\r\n\r\n') + 4;
    expect(got.subarray(0, headerEnd).toString()).toMatch(/^HTTP\/1.1 101 /);
    const t0 = Date.now();
    // a masked text frame with RSV2 set (no extension defines it): a protocol error
    s.write(Buffer.from([0xa1, 0x81, 1, 2, 3, 4, 0x78 ^ 1]));
    await closed;
    expect(Date.now() - t0).toBeLessThan(900);
    expect(got.length - headerEnd, 'bytes after the 101 response (a close frame would be 4+)').toBe(0);
  });

  it('refuses a WebSocket without a WAMP subprotocol', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${r.port(1)}/`, ['mqtt']);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(400);
  });

  it('frames messages itself when no extension is negotiated: one text frame each, 64 KiB fragments beyond', async () => {
    const s = connect(r.port(1), '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (b: Buffer) => (got = Buffer.concat([got, b])));
    // a client frame: FIN + text, masked (RFC 6455 5.3)
    const send = (text: string) => {
      const p = Buffer.from(text);
      const mask = Buffer.from([1, 2, 3, 4]);
      const head = p.length < 126 ? Buffer.from([0x81, 0x80 | p.length]) : Buffer.from([0x81, 0x80 | 126, p.length >> 8, p.length & 0xff]);
      s.write(Buffer.concat([head, mask, Buffer.from(p.map((b, i) => b ^ mask[i % 4]!))]));
    };
    s.write(
      [
        'GET / HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: wamp.2.json',
        '',
        '',
      ].join('\r\n'),
    );
    await until(() => got.includes('\r\n\r\n'), 2000);
    got = got.subarray(got.indexOf('\r\n\r\n') + 4);
    /** The frames received so far: [FIN, opcode, payload]. */
    const frames = () => {
      const out: [boolean, number, Buffer][] = [];
      for (let pos = 0; pos + 2 <= got.length; ) {
        let len = got[pos + 1]! & 0x7f;
        let at = pos + 2;
        if (len === 126) [len, at] = [got.readUInt16BE(pos + 2), pos + 4];
        else if (len === 127) [len, at] = [Number(got.readBigUInt64BE(pos + 2)), pos + 10];
        if (at + len > got.length) break;
        out.push([(got[pos]! & 0x80) !== 0, got[pos]! & 0x0f, got.subarray(at, at + len)]);
        pos = at + len;
      }
      return out;
    };
    send(JSON.stringify([1, 'app', { roles: { subscriber: {} }, authmethods: ['anonymous'] }]));
    send(JSON.stringify([32, 1, {}, 'com.example.framed']));
    await until(() => frames().length >= 2, 2000, 'WELCOME and SUBSCRIBED');
    const [welcome, subscribed] = frames();
    expect([welcome![0], welcome![1], JSON.parse(welcome![2].toString())[0]]).toEqual([true, 1, 2]);
    expect([subscribed![0], subscribed![1], JSON.parse(subscribed![2].toString())[0]]).toEqual([true, 1, 33]);
    const pub = new WebSocket(`ws://127.0.0.1:${r.port(1)}/`, ['wamp.2.json'], { perMessageDeflate: false });
    await new Promise((res) => pub.once('open', res));
    pub.send(JSON.stringify([1, 'app', { roles: { publisher: {} }, authmethods: ['anonymous'] }]));
    const big = 'z'.repeat(150 * 1024);
    pub.once('message', () => pub.send(JSON.stringify([16, 1, {}, 'com.example.framed', [big]])));
    await until(() => frames().length >= 5, 5000, 'the EVENT in three fragments');
    const ev = frames().slice(2);
    expect(ev.map(([fin, op, p]) => [fin, op, p.length])).toEqual([
      [false, 1, 65536],
      [false, 0, 65536],
      [true, 0, expect.any(Number)],
    ]);
    const event = JSON.parse(Buffer.concat(ev.map(([, , p]) => p)).toString());
    expect([event[0], event[4][0]]).toEqual([36, big]);
    pub.terminate();
    s.destroy();
  });

  it('fragments outbound messages larger than 64 KiB and clients reassemble them', async () => {
    const { abConnect: ab, closeAb: close } = await import('./helpers.js');
    const a = await ab({ url: `ws://127.0.0.1:${r.port(1)}/`, realm: 'app' } as never);
    const b = await ab({ url: `ws://127.0.0.1:${r.port(1)}/`, realm: 'app' } as never);
    const big = 'y'.repeat(200 * 1024); // below this router's 256 KiB outbound bound
    await b.session.register('com.example.big', () => big);
    expect(await a.session.call('com.example.big')).toBe(big);
    await close(a);
    await close(b);
  });
});

describe('cross-serializer values', () => {
  it('a CBOR bignum a JSON subscriber cannot carry is dropped for that subscriber only', async () => {
    const { cbor } = await import('../../../src/router/wamp/serializers.js');
    const got: unknown[] = [];
    const sub = connect(r.port(2), '127.0.0.1');
    sub.on('data', (d) => got.push(d));
    sub.write(Buffer.concat([handshake(1), frame(HELLO), frame(JSON.stringify([32, 1, {}, 'com.example.big']))]));
    await until(() => [...r.router.sessions].some((s) => [...s.subscriptions].some((x) => x.topic === 'com.example.big')));
    const pub = connect(r.port(2), '127.0.0.1');
    const cborHello = cbor.encode([1, 'app', { roles: { publisher: {} }, authmethods: ['anonymous'] }]);
    // tag 2 (positive bignum) decodes to a BigInt, which JSON cannot encode
    const bignumPublish = Buffer.concat([
      Buffer.from([0x85, 0x10, 0x01, 0xa1, 0x6b]),
      Buffer.from('acknowledge'),
      Buffer.from([0xf5, 0x6f]),
      Buffer.from('com.example.big'),
      Buffer.from([0x81, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    const pubData: Buffer[] = [];
    pub.on('data', (d) => pubData.push(d));
    pub.write(Buffer.concat([handshake(3), frame(cborHello), frame(bignumPublish)]));
    await until(() => mem.lines.some((l) => l.msg === 'message not representable for this peer; dropped'), 5000, 'drop log');
    // the publisher got its PUBLISHED (ack) and stays connected; the subscriber is still there
    await until(() => Buffer.concat(pubData).length > 8 + 100, 5000, 'PUBLISHED');
    expect(pub.destroyed).toBe(false);
    expect([...r.router.sessions].some((s) => [...s.subscriptions].some((x) => x.topic === 'com.example.big'))).toBe(true);
    pub.destroy();
    sub.destroy();
  });
});
