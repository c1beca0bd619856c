import type autobahn from 'autobahn';
import { afterAll, beforeAll } from 'vitest';
import type { Session } from '../../../src/router/core/session.js';
import { RemoteSession } from '../../../src/router/fabric/remote-session.js';
import { featureSuite } from '../router/features-suite.js';
import { abConnect, baseRealm, closeAb, until, type AbSession } from '../router/helpers.js';
import { localCluster } from './local-cluster.js';

// The router's advanced-profile scenarios (test/integration/router/features-suite.ts) again, on three
// nodes (in-process routers, one nats-server): each new session goes to the next node, so a scenario's
// publisher and subscribers, caller and callees are on different nodes.
let c: Awaited<ReturnType<typeof localCluster>>;
const open: { connection: autobahn.Connection }[] = [];
let next = 0;
// router-side sessions, kept: autobahn-js ends its session after a canceled call
const seen = new Map<number, Session>();

const opts = (node: number) => ({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: c.routers[node]!.port(0) }], realm: 'app' }) as unknown as autobahn.IConnectionOptions;

beforeAll(async () => {
  c = await localCluster(3, { realms: [baseRealm()] });
  await until(() => c.routers.every((r) => r.fabric!.peers().length === 2), 10_000, 'replicas');
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await c?.close();
});

featureSuite({
  async connect(): Promise<AbSession> {
    const conn = await abConnect(opts(next++ % 3));
    open.push(conn);
    return conn.session;
  },
  fresh: () => opts(next++ % 3),
  // every node has applied every other node's last delta
  settle: () => until(() => c.routers.every((a) => c.routers.every((b) => a === b || a.fabric!.appliedOf(b.fabric!.settings.node) === b.fabric!.sequence)), 5000, 'replicas in sync'),
  pendingCalls: (id) => {
    let s = seen.get(id);
    for (const r of c.routers) {
      const x = r.router.realm('app')!.sessions.get(id);
      if (!s && x && !(x instanceof RemoteSession)) s = x;
    }
    if (s) seen.set(id, s);
    return s?.calls.size ?? -1;
  },
});
