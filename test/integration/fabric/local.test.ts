import autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abConnect, closeAb, until, type AbSession } from '../router/helpers.js';
import { localCluster } from './local-cluster.js';

// Three routers in this process, one nats-server on 127.0.0.1 (JetStream on): WAMP semantics across
// nodes with autobahn-js clients. Node death, partitions and separate processes: cluster.test.ts.
let c: Awaited<ReturnType<typeof localCluster>>;
const open: { connection: autobahn.Connection }[] = [];

beforeAll(async () => {
  c = await localCluster(3);
  // every node sees the other two
  await until(() => c.routers.every((r) => r.fabric!.peers().length === 2), 10_000, 'replicas');
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await c?.close();
});

async function join(node: number, extra: Partial<autobahn.IConnectionOptions> = {}): Promise<AbSession> {
  const r = c.routers[node]!;
  const conn = await abConnect({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: r.port(0) }], realm: 'app', ...extra } as unknown as autobahn.IConnectionOptions);
  open.push(conn);
  return conn.session;
}

/** Waits until node `node`'s dealer knows `proc` (the replica caught up). */
async function known(proc: string, nodes = [0, 1, 2]): Promise<void> {
  await until(() => nodes.every((i) => c.routers[i]!.router.realm('app')!.dealer.match(proc) !== undefined), 5000, `registration ${proc}`);
}
async function subscribed(topic: string, nodes = [0, 1, 2]): Promise<void> {
  await until(() => nodes.every((i) => c.routers[i]!.router.realm('app')!.broker.hasSubscribers(topic)), 5000, `subscription ${topic}`);
}

describe('fabric in one process (three nodes, one nats-server)', () => {
  it('calls a procedure registered on another node, with the same registration ID everywhere', async () => {
    const callee = await join(0);
    const caller = await join(2);
    const reg = await callee.register('com.example.add', (args) => (args as number[])[0]! + (args as number[])[1]!);
    await known('com.example.add');
    expect(await caller.call('com.example.add', [2, 3])).toBe(5);
    const ids = c.routers.map((r) => r.router.realm('app')!.dealer.match('com.example.add')!.id);
    expect(new Set([...ids, reg.id]).size).toBe(1);
  });

  it('delivers events across nodes (pattern subscriptions too), excluding the publisher, same subscription ID', async () => {
    const sub = await join(1);
    const pub = await join(0);
    const got: unknown[] = [];
    const ids: number[] = [];
    const s1 = await sub.subscribe(
      'com.example.pre.',
      (args, _kw, d) => {
        got.push(args?.[0]);
        ids.push((d as unknown as { topic?: string }).topic ? 1 : 0);
      },
      { match: 'prefix' },
    );
    await subscribed('com.example.pre.x');
    await pub.publish('com.example.pre.x', ['a'], {}, { acknowledge: true });
    await pub.publish('com.example.prefix', ['no'], {}, { acknowledge: true });
    await until(() => got.length === 1, 5000, 'event');
    expect(got).toEqual(['a']);
    const r2 = c.routers[2]!.router.realm('app')!.broker.lookup('com.example.pre.', 'prefix')!;
    expect(r2.id).toBe(s1.id);
  });

  it('refuses a second single registration of a URI made on another node', async () => {
    const a = await join(0);
    const b = await join(1);
    await a.register('com.example.only', () => 1);
    await known('com.example.only');
    await expect(b.register('com.example.only', () => 2)).rejects.toMatchObject({ error: 'wamp.error.procedure_already_exists' });
  });

  it('carries callee errors with args and kwargs, and progressive results', async () => {
    const callee = await join(1);
    const caller = await join(0);
    await callee.register('com.example.fail', () => {
      throw new autobahn.Error('com.example.error.bad', [1, 'two'], { three: 3 });
    });
    await callee.register('com.example.progress', (_a, _k, details) => {
      const d = details as unknown as { progress?: (args: unknown[]) => void };
      for (let i = 0; i < 3; i++) d.progress?.([i]);
      return 'done';
    });
    await known('com.example.progress');
    await expect(caller.call('com.example.fail')).rejects.toMatchObject({ error: 'com.example.error.bad', args: [1, 'two'], kwargs: { three: 3 } });
    const progress: unknown[] = [];
    const res = await caller.call('com.example.progress', [], {}, { receive_progress: true }).then(
      (r) => r,
      undefined,
      (p: unknown) => progress.push((p as { args: unknown[] }).args?.[0] ?? p),
    );
    expect(res).toBe('done');
    expect(progress).toEqual([0, 1, 2]);
  });
});

describe('event batches', () => {
  it('a burst to several subscribers on another node arrives complete and in order at each', async () => {
    const subs = await Promise.all([1, 1, 1, 1, 1].map((n) => join(n)));
    const got = subs.map(() => [] as number[]);
    for (const [i, s] of subs.entries()) await s.subscribe('com.example.burst', (args) => got[i]!.push(args?.[0] as number));
    await subscribed('com.example.burst', [0]);
    await until(() => c.routers[0]!.router.realm('app')!.broker.lookup('com.example.burst', 'exact')!.subscribers.size === 5, 5000, 'five subscribers on n1');
    const pub = await join(0);
    const N = 1500;
    for (let n = 0; n < N; n++) pub.publish('com.example.burst', [n]);
    await until(() => got.every((g) => g.length === N), 15_000, 'every event at every subscriber');
    for (const g of got) expect(g).toEqual(Array.from({ length: N }, (_, n) => n));
  });
});

describe('rolling upgrade', () => {
  it('a node of the earlier release (format 1 event batches) and current nodes exchange events both ways', async () => {
    const legacy = c.routers[2]!.fabric!;
    legacy.wireFormat = 1;
    try {
      // the others hear its format with its next heartbeat
      await new Promise((r) => setTimeout(r, 600));
      const onLegacy = await join(2);
      const onCurrent = await join(0);
      const got: Record<string, unknown[]> = { legacy: [], current: [] };
      await onLegacy.subscribe('com.example.mixed', (args) => got.legacy!.push(args?.[0]));
      await onCurrent.subscribe('com.example.mixed', (args) => got.current!.push(args?.[0]));
      await subscribed('com.example.mixed');
      await until(() => c.routers.every((r) => r.router.realm('app')!.broker.lookup('com.example.mixed', 'exact')?.subscribers.size === 2), 5000, 'both subscribers everywhere');
      const pubCurrent = await join(1);
      for (let n = 0; n < 20; n++) pubCurrent.publish('com.example.mixed', [n]);
      for (let n = 20; n < 40; n++) onLegacy.publish('com.example.mixed', [n], {}, { exclude_me: false });
      await until(() => got.legacy!.length === 40 && got.current!.length === 40, 5000, 'every event at both');
      for (const g of Object.values(got)) {
        expect(g.filter((n) => (n as number) < 20)).toEqual(Array.from({ length: 20 }, (_, n) => n));
        expect(g.filter((n) => (n as number) >= 20)).toEqual(Array.from({ length: 20 }, (_, n) => n + 20));
      }
    } finally {
      legacy.wireFormat = 2;
    }
  });
});

describe('authorization across nodes', () => {
  it('is decided on the entry node with the caller’s role', async () => {
    const callee = await join(0);
    await callee.register('com.example.secret', () => 'secret');
    await callee.register('com.example.open', () => 'open');
    await known('com.example.secret');
    await known('com.example.open');
    const pub = await join(2, { authmethods: ['ticket'], authid: 'pub', onchallenge: () => 'pub-secret' } as unknown as Partial<autobahn.IConnectionOptions>);
    expect(await pub.call('com.example.open')).toBe('open');
    await expect(pub.call('com.example.secret')).rejects.toMatchObject({ error: 'wamp.error.not_authorized' });
    await expect(pub.register('com.example.mine', () => 1)).rejects.toMatchObject({ error: 'wamp.error.not_authorized' });
    const backend = await join(1);
    expect(await backend.call('com.example.secret')).toBe('secret');
  });
});

describe('fabric meta events in one process', () => {
  it('on_leave of a session of another node reaches a watcher once', async () => {
    const watcher = await join(0);
    const leaves: number[] = [];
    await watcher.subscribe('wamp.session.on_leave', (args) => leaves.push(args?.[0] as number));
    const conn = await abConnect({
      transports: [{ type: 'rawsocket', host: '127.0.0.1', port: c.routers[2]!.port(0) }],
      realm: 'app',
      authmethods: ['ticket'],
      authid: 'pub',
      onchallenge: () => 'pub-secret',
    } as unknown as autobahn.IConnectionOptions);
    const id = conn.session.id;
    await until(() => c.routers[0]!.router.realm('app')!.sessions.has(id), 5000, 'replica of the session');
    expect(await watcher.call('wamp.session.get', [id])).toMatchObject({ authid: 'pub' });
    await closeAb(conn);
    await until(() => leaves.includes(id), 5000, 'on_leave');
  });
});

describe('fabric and metrics', () => {
  it('a node counts only its own sessions in its metrics (remote sessions are their node’s)', async () => {
    const { sessionsByRealmRole } = await import('../../../src/router/metrics.js');
    await join(1);
    await until(() => c.routers[0]!.router.realm('app')!.sessions.size > c.routers[0]!.router.sessions.size, 5000, 'remote sessions on n1');
    const total = (i: number) => sessionsByRealmRole(c.routers[i]!.router).reduce((n, r) => n + r.count, 0);
    for (const i of [0, 1, 2]) expect(total(i)).toBe(c.routers[i]!.router.sessions.size);
  });
});
