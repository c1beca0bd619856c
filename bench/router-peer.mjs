// The far side of the router benchmark, run as its own Node process (a backend component lives in its
// own process in a real deployment, so the bench does not charge callee/subscriber CPU to the caller's
// process). router.bench.test.ts bundles this file with esbuild (it reuses router-client.ts) and talks to
// it over the IPC channel: the child sends {ready: true} once set up, and {done: true, got} for events.
//   callee rawsocket <socket path> <procedure>
//   callee websocket <wss url> <procedure> <CA cert file>
//   router-subscribers <socket path | wss url> <subscribers> <expected deliveries> [CA cert file]
//   nats-subscribers <port> <subscribers> <expected deliveries>
import { readFileSync } from 'node:fs';
import { connect as natsConnect } from 'nats';
import { countEvents, echoCallee, rawsocketClient, websocketClient } from './router-client.js';

const [role, ...args] = process.argv.slice(2);
const send = (m) => process.send?.(m);
process.on('disconnect', () => process.exit(0)); // the parent went away: never outlive it

if (role === 'callee') {
  const [transport, addr, proc, caFile] = args;
  const c = transport === 'rawsocket' ? rawsocketClient(addr) : websocketClient(addr, readFileSync(caFile), { corkPerTick: true });
  await echoCallee(c, proc);
  send({ ready: true });
} else if (role === 'router-subscribers') {
  const [addr, subs, expected, caFile] = [args[0], Number(args[1]), Number(args[2]), args[3]];
  const ca = caFile ? readFileSync(caFile) : undefined;
  let got = 0;
  let reported = false;
  const onEvent = () => {
    if (++got >= expected && !reported) {
      reported = true;
      send({ done: true, got });
    }
  };
  for (let i = 0; i < subs; i++) {
    const c = ca ? websocketClient(addr, ca) : rawsocketClient(addr);
    await c.ready;
    countEvents(c, onEvent);
    await new Promise((res) => {
      c.onMessage = (m) => {
        if (m[0] === 33) res();
      };
      c.send([32, 1, {}, 'bench.topic']);
    });
  }
  send({ ready: true });
} else if (role === 'nats-subscribers') {
  const [port, subs, expected] = [args[0], Number(args[1]), Number(args[2])];
  let got = 0;
  let reported = false;
  for (let i = 0; i < subs; i++) {
    const c = await natsConnect({ servers: `127.0.0.1:${port}` });
    c.subscribe('bench.topic', {
      callback: () => {
        if (++got >= expected && !reported) {
          reported = true;
          send({ done: true, got });
        }
      },
    });
    await c.flush();
  }
  send({ ready: true });
} else {
  console.error(`router-peer: unknown role ${role}`);
  process.exit(2);
}
