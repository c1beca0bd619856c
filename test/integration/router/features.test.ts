import { afterAll, beforeAll } from 'vitest';
import autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, baseRealm, closeAb, memoryLogger, type AbSession } from './helpers.js';
import { featureSuite } from './features-suite.js';

// Advanced profile scenarios, driven by autobahn-js (WebSocket, mixed serializers).
const mem = memoryLogger();
let r: RunningRouter;
const open: { connection: autobahn.Connection }[] = [];
const S = (autobahn as unknown as { serializer: Record<string, new () => unknown> }).serializer;
const SERS = ['JSONSerializer', 'MsgpackSerializer', 'CBORSerializer'];
let n = 0;

async function connect(): Promise<AbSession> {
  const ser = new S[SERS[n++ % 3]!]!();
  const c = await abConnect({ url: `ws://127.0.0.1:${r.port(0)}/`, realm: 'app', serializers: [ser] } as autobahn.IConnectionOptions);
  open.push(c);
  return c.session;
}

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] }],
      auth: { anonymous: { role: 'backend' } },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await r?.close();
});

featureSuite({
  connect,
  fresh: () => ({ url: `ws://127.0.0.1:${r.port(0)}/`, realm: 'app' }) as autobahn.IConnectionOptions,
  settle: async () => {},
  pendingCalls: (() => {
    // the router-side session, kept: autobahn-js ends its session after a canceled call (see the cancel test)
    const seen = new Map<number, { calls: Map<number, unknown> }>();
    return (id: number) => {
      const s = seen.get(id) ?? [...r.router.sessions].find((x) => x.id === id);
      if (s) seen.set(id, s);
      return s?.calls.size ?? -1;
    };
  })(),
});
