import type autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abConnect, closeAb, until, type AbSession } from '../router/helpers.js';
import { localCluster } from './local-cluster.js';

// The admin session-ending procedures across nodes: two routers in this process on one nats-server,
// autobahn-js clients. An admin on node 1 ends sessions of node 2 (by ID, by authid); the session's own
// node sends it GOODBYE and publishes its testaments, and every node sees it gone.
let c: Awaited<ReturnType<typeof localCluster>>;
const open: { connection: autobahn.Connection }[] = [];

beforeAll(async () => {
  c = await localCluster(2, { admin: { role: 'backend' } });
  await until(() => c.routers.every((r) => r.fabric!.peers().length === 1), 10_000, 'replicas');
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await c?.close();
});

/** A session on `node` and a promise of the reason it is ended with. */
async function join(node: number, extra: Record<string, unknown> = {}): Promise<{ s: AbSession; id: number; ended: Promise<string> }> {
  const conn = await abConnect({
    transports: [{ type: 'rawsocket', host: '127.0.0.1', port: c.routers[node]!.port(0) }],
    realm: 'app',
    max_retries: 0,
    ...extra,
  } as unknown as autobahn.IConnectionOptions);
  open.push(conn);
  const ended = new Promise<string>((res) => {
    conn.connection.onclose = (_r, d) => (res(String((d as { reason?: string }).reason)), true);
  });
  // the ID kept: autobahn-js forgets it when the session ends
  return { s: conn.session, id: conn.session.id, ended };
}

const pub = { authmethods: ['ticket'], authid: 'pub', onchallenge: () => 'pub-secret' };
const sessionsOf = (node: number) => c.routers[node]!.router.realm('app')!.sessions;

describe('admin procedures across nodes', () => {
  it('wamp.session.kill ends a session of another node; its node publishes its testament', async () => {
    const admin = await join(0);
    const watcher = await join(0);
    const target = await join(1);
    const wills: unknown[] = [];
    await watcher.s.subscribe('com.example.will', (args) => wills.push(args?.[0]));
    await target.s.call('wamp.session.add_testament', ['com.example.will', ['target gone'], {}]);
    await until(() => sessionsOf(0).has(target.id) && c.routers[1]!.router.realm('app')!.broker.hasSubscribers('com.example.will'), 5000, 'n1 sees the target, n2 the watcher');
    await admin.s.call('wamp.session.kill', [target.id], { message: 'bye now' });
    expect(await target.ended).toBe('wamp.close.killed');
    await until(() => wills.length === 1, 5000, 'testament');
    expect(wills).toEqual(['target gone']);
    await until(() => !sessionsOf(0).has(target.id) && !sessionsOf(1).has(target.id), 5000, 'target gone on both nodes');
    expect(c.mem.lines.some((l) => l.event === 'session.killed' && l.session === target.id)).toBe(true);
  });

  it('wamp.session.kill_by_authid ends that authid’s sessions on every node, not the others', async () => {
    const admin = await join(0);
    const bystander = await join(1);
    const a = await join(0, pub);
    const b = await join(1, pub);
    await until(() => [0, 1].every((n) => sessionsOf(n).has(a.id) && sessionsOf(n).has(b.id)), 5000, 'both pub sessions on both nodes');
    expect(((await admin.s.call('wamp.session.list_by_authid', ['pub'])) as number[]).sort()).toEqual([a.id, b.id].sort());
    expect(((await admin.s.call('wamp.session.kill_by_authid', ['pub'])) as number[]).sort()).toEqual([a.id, b.id].sort());
    expect(await a.ended).toBe('wamp.close.killed');
    expect(await b.ended).toBe('wamp.close.killed');
    await until(() => [0, 1].every((n) => !sessionsOf(n).has(a.id) && !sessionsOf(n).has(b.id)), 5000, 'pub sessions gone');
    expect(await admin.s.call('wamp.session.list_by_authid', ['pub'])).toEqual([]);
    // the bystander on node 2 is still there, on both nodes
    expect(((await bystander.s.call('wamp.session.get', [bystander.s.id])) as { session: number }).session).toBe(bystander.s.id);
    expect(sessionsOf(0).has(bystander.s.id)).toBe(true);
  });
});
