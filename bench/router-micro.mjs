// in-process router core micro-benchmark: decode -> session.receive -> broker/dealer -> encode (no sockets)
import pino from 'pino';
const D = (await import('node:path')).resolve(process.argv[2] ?? new URL('../dist/src', import.meta.url).pathname);
const { Router } = await import(`${D}/router/core/router.js`);
const { routerSchema } = await import(`${D}/router/config.js`);
const { cbor } = await import(`${D}/router/wamp/serializers.js`);
const cfg = routerSchema.parse({
  realms: [{ name: 'app', roles: [{ name: 'bench', permissions: [{ uri: 'bench.', match: 'prefix', call: true, register: true, publish: true, subscribe: true }] }] }],
  listeners: [{ type: 'rawsocket', path: '/tmp/x.sock', component: 'bench' }],
  components: [{ name: 'bench', realm: 'app', role: 'bench' }],
});
const router = new Router(cfg, pino({ level: 'silent' }));
const listener = { name: 'l', cfg: cfg.listeners[0], component: { realm: 'app', authid: 'bench', authrole: 'bench', authmethod: 'anonymous', authprovider: 'static' } };
let bytes = 0;
function conn(onMsg) {
  return { serializer: cbor, info: { type: 'rawsocket', protocol: 'wamp.2.cbor', peer: 'unix', source: 'unix', listener: 'l', tls: false },
    send(out) { const b = out.encode(cbor); bytes += b.length; onMsg?.(b); }, close() {} };
}
const HELLO = cbor.encode([1, 'app', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);
function session(onMsg) { const s = router.attach(conn(onMsg), listener); s.receive(cbor.decode(HELLO)); return s; }
const ARGS = ['x'.repeat(100)];
const subs = [];
const N_SUBS = +(process.argv[3] ?? 1);
for (let i = 0; i < N_SUBS; i++) { const s = session(); s.receive(cbor.decode(cbor.encode([32, 1, {}, 'bench.topic']))); subs.push(s); }
const pub = session();
const callee = session();
callee.receive(cbor.decode(cbor.encode([64, 1, {}, 'bench.echo'])));
const caller = session();
function bench(name, n, fn) {
  let best = Infinity;
  for (let r = 0; r < 7; r++) { const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) fn(i); best = Math.min(best, Number(process.hrtime.bigint() - t) / n); }
  console.log(`${name}: ${best.toFixed(0)} ns/op (best of 7)`);
}
// the router's side only: frames decoded as the transports do (decodeMessage), clients' frames made once
const PUBLISH = cbor.encode([16, 1, {}, 'bench.topic', ARGS]);
if (!process.env.ONLY_CALL) bench(`publish to ${N_SUBS}`, 50000, () => pub.receive(cbor.decodeMessage(PUBLISH)));
// CALL with one request ID (each call ends before the next); YIELD for invocation ID k from a template
const CALL = cbor.encode([48, 1, {}, 'bench.echo', ARGS]);
const YIELD = Buffer.concat([Buffer.from([0x84, 0x18, 70, 0x1a, 0, 0, 0, 0, 0xa0]), cbor.encode(ARGS)]);
let invocation = 0;
bench('call+yield', 50000, () => {
  caller.receive(cbor.decodeMessage(CALL));
  YIELD.writeUInt32BE(++invocation, 4);
  callee.receive(cbor.decodeMessage(YIELD));
});
