import { expect, it } from 'vitest';
import pino from 'pino';
import { Router } from '../src/router/core/router.js';
import { routerSchema } from '../src/router/config.js';
import { cbor } from '../src/router/wamp/serializers.js';
import type { Connection } from '../src/router/core/connection.js';

// What event retention, event history, meta-API subscribers and testaments cost the traffic that does not
// use them. Two routers in this process, one with every feature off (retention disabled, no history, no meta
// subscriber, no testament) and one with all of them in use around the measured traffic: retention on, a
// history ring on other topics, subscribers to the session/subscription/registration meta events, a session
// with a testament. Both route the same PUBLISH-to-1 and CALL+YIELD frames, decoded as the transports do,
// without sockets; rounds alternate and the median ratio is printed (goal: >= 0.95x, the features must not
// tax traffic that doesn't ask for them). The socket-level figures are in router.bench.test.ts.
const ROUNDS = Number(process.env.ROUTER_BENCH_FEATURE_ROUNDS ?? 61);
const N = 5_000; // short rounds, many of them, alternating: host noise then hits both sides alike
const ARGS = ['x'.repeat(100)];
const HELLO = cbor.encode([1, 'app', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);
const PUBLISH = cbor.encode([16, 1, {}, 'bench.topic', ARGS]);
const CALL = cbor.encode([48, 1, {}, 'bench.echo', ARGS]);

function setup(features: boolean) {
  const cfg = routerSchema.parse({
    realms: [
      {
        name: 'app',
        roles: [{ name: 'bench', permissions: [{ uri: '', match: 'prefix', call: true, register: true, publish: true, subscribe: true }] }],
        retention: { enabled: features },
        ...(features ? { history: { topics: [{ uri: 'hist.', match: 'prefix', limit: 100 }] } } : {}),
      },
    ],
    listeners: [{ type: 'rawsocket', path: '/tmp/bench-features.sock', component: 'bench' }],
    components: [{ name: 'bench', realm: 'app', role: 'bench' }],
  });
  const router = new Router(cfg, pino({ level: 'silent' }));
  const listener = { name: 'l', cfg: cfg.listeners[0]!, component: { realm: 'app', authid: 'bench', authrole: 'bench', authmethod: 'trusted', authprovider: 'static' } };
  let delivered = 0;
  const conn = (): Connection =>
    ({
      serializer: cbor,
      info: { type: 'rawsocket', protocol: 'wamp.2.cbor', peer: 'unix', source: 'unix', listener: 'l', tls: false },
      send(out: { encode(s: typeof cbor): Buffer }) {
        delivered += out.encode(cbor).length;
      },
      close() {},
      // the in-memory connection stands in for a transport: only what the router calls is here
    }) as unknown as Connection;
  const session = () => {
    const s = router.attach(conn(), listener as never);
    s.receive(cbor.decode(HELLO));
    return s;
  };
  const send = (s: ReturnType<typeof session>, m: unknown[]) => s.receive(cbor.decode(cbor.encode(m)));
  if (features) {
    const watcher = session();
    let r = 100;
    for (const t of ['wamp.session.on_join', 'wamp.session.on_leave', 'wamp.subscription.on_subscribe', 'wamp.subscription.on_create', 'wamp.registration.on_register'])
      send(watcher, [32, r++, {}, t]);
    send(session(), [48, r++, {}, 'wamp.session.add_testament', ['bench.gone', [1], {}]]);
    const h = session();
    for (let i = 0; i < 50; i++) send(h, [16, r++, { retain: true }, `hist.t${i % 5}`, ARGS]);
  }
  send(session(), [32, 1, {}, 'bench.topic']);
  const pub = session();
  const callee = session();
  send(callee, [64, 1, {}, 'bench.echo']);
  const caller = session();
  const yieldFrame = Buffer.concat([Buffer.from([0x84, 0x18, 70, 0x1a, 0, 0, 0, 0, 0xa0]), cbor.encode(ARGS)]);
  let invocation = 0;
  return {
    delivered: () => delivered,
    publish: () => pub.receive(cbor.decodeMessage(PUBLISH)),
    call: () => {
      caller.receive(cbor.decodeMessage(CALL));
      yieldFrame.writeUInt32BE(++invocation, 4);
      callee.receive(cbor.decodeMessage(yieldFrame));
    },
  };
}

function nsPerOp(fn: () => void): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - t) / N;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

it('retention, history, meta events and testaments leave other traffic as fast (in-process, same run)', () => {
  const plain = setup(false);
  const featured = setup(true);
  const rows: string[] = [];
  for (const [name, op] of [
    ['publish to 1', 'publish'],
    ['call+yield', 'call'],
  ] as const) {
    for (let i = 0; i < 3; i++) plain[op](), featured[op](); // warm both paths
    nsPerOp(plain[op]);
    nsPerOp(featured[op]);
    const ratios: number[] = [];
    const p: number[] = [];
    const f: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const a = nsPerOp(plain[op]);
      const b = nsPerOp(featured[op]);
      p.push(a);
      f.push(b);
      ratios.push(a / b);
    }
    const ratio = median(ratios);
    console.log(`BENCH ${JSON.stringify({ bench: 'router-features', op: name, plainNs: median(p), featuredNs: median(f), ratio })}`);
    rows.push(
      `${name.padEnd(14)} features off ${median(p).toFixed(0).padStart(5)} ns  on ${median(f).toFixed(0).padStart(5)} ns  ratio ${ratio.toFixed(2)}x (goal >= 0.95x: ${ratio >= 0.95 ? 'met' : 'NOT met'})  rounds ${ROUNDS}, middle half of ratios ${[
        ...ratios,
      ]
        .sort((x, y) => x - y)
        .slice(ROUNDS >> 2, ROUNDS - (ROUNDS >> 2))
        .at(0)
        ?.toFixed(2)}-${[...ratios]
        .sort((x, y) => x - y)
        .slice(ROUNDS >> 2, ROUNDS - (ROUNDS >> 2))
        .at(-1)
        ?.toFixed(2)}`,
    );
  }
  console.log(`\nrouter features (retention, history, meta subscribers, testaments) vs none, same process:\n${rows.join('\n')}\n`);
  // both routers really routed: every publish and call delivered something
  expect(plain.delivered()).toBeGreaterThan(0);
  expect(featured.delivered()).toBeGreaterThan(0);
});
