// in-process router micro-benchmark: decode -> session.receive -> broker/dealer -> encode (no sockets),
// then the RawSocket transport on in-memory sockets. Figures vary by run (host noise): compare builds
// alternately, several runs each.
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
let _bytes = 0;
function conn(onMsg) {
  return {
    serializer: cbor,
    info: { type: 'rawsocket', protocol: 'wamp.2.cbor', peer: 'unix', source: 'unix', listener: 'l', tls: false },
    send(out) {
      const b = out.encode(cbor);
      _bytes += b.length;
      onMsg?.(b);
    },
    close() {},
  };
}
const HELLO = cbor.encode([1, 'app', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);
function session(onMsg) {
  const s = router.attach(conn(onMsg), listener);
  s.receive(cbor.decode(HELLO));
  return s;
}
const ARGS = ['x'.repeat(100)];
const subs = [];
const N_SUBS = +(process.argv[3] ?? 1);
for (let i = 0; i < N_SUBS; i++) {
  const s = session();
  s.receive(cbor.decode(cbor.encode([32, 1, {}, 'bench.topic'])));
  subs.push(s);
}
const pub = session();
const callee = session();
callee.receive(cbor.decode(cbor.encode([64, 1, {}, 'bench.echo'])));
const caller = session();
function bench(name, n, fn) {
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
  }
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

// The same publish to 1 through the RawSocket transport (frames read from 64 KiB reads, EVENTs written
// into outbound blocks), on in-memory sockets: what the router does per delivery short of system calls.
const { serveRawSocket } = await import(`${D}/router/transport/rawsocket.js`);
const { EventEmitter } = await import('node:events');
function memorySocket() {
  const s = new EventEmitter();
  return Object.assign(s, {
    destroyed: false,
    writableLength: 0,
    setNoDelay() {},
    cork() {},
    uncork() {},
    end() {},
    destroy() {
      s.destroyed = true;
    },
    write(b, cb) {
      _bytes += b.length;
      if (cb) process.nextTick(cb);
      return true;
    },
  });
}
const rsFrame = (p) => {
  const h = Buffer.alloc(4);
  h.writeUIntBE(p.length, 1, 3);
  return Buffer.concat([h, p]);
};
const openRs = () => {
  const s = memorySocket();
  serveRawSocket(router, listener, s, cfg.limits);
  s.emit('data', Buffer.concat([Buffer.from([0x7f, 0xf3, 0, 0]), rsFrame(HELLO)]));
  return s;
};
openRs().emit('data', rsFrame(cbor.encode([32, 1, {}, 'bench.rs'])));
const rsPub = openRs();
const tick = () => new Promise((r) => setImmediate(r));
const N_RS = 20000;
const one = rsFrame(cbor.encode([16, 0xfffffff0, {}, 'bench.rs', ARGS]));
const stream = Buffer.alloc(N_RS * one.length);
for (let i = 0; i < N_RS; i++) {
  one.copy(stream, i * one.length);
  stream.writeUInt32BE(i + 1, i * one.length + 4 + 3);
}
let bestRs = Infinity;
for (let r = 0; r < 15; r++) {
  const t = process.hrtime.bigint();
  for (let at = 0; at < stream.length; at += 65536) {
    rsPub.emit('data', stream.subarray(at, at + 65536));
    await tick();
  }
  await tick();
  bestRs = Math.min(bestRs, Number(process.hrtime.bigint() - t) / N_RS);
}
console.log(`publish to 1 through RawSocket (in-memory sockets): ${bestRs.toFixed(0)} ns/delivery (best of 15)`);
