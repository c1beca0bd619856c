import type autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abConnect, closeAb, until, type AbSession } from '../router/helpers.js';
import { fabricRealm, localCluster } from './local-cluster.js';

// Retained events and topic history are the cluster's: three routers in this process on one nats-server
// (a fourth joins late), autobahn-js clients. A retained event published on one node is what a
// get_retained subscriber on any node gets; a newer one replaces it on every node; a node that joins
// later gets both retained events and history from the others (with its snapshot).
let c: Awaited<ReturnType<typeof localCluster>>;
const open: { connection: autobahn.Connection }[] = [];
const realm = { ...fabricRealm(), history: { topics: [{ uri: 'com.example.hist.', match: 'prefix' as const, limit: 5 }] } };

beforeAll(async () => {
  c = await localCluster(3, { realms: [realm] });
  await until(() => c.routers.every((r) => r.fabric!.peers().length === 2), 10_000, 'replicas');
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await c?.close();
});

async function join(node: number): Promise<AbSession> {
  const conn = await abConnect({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: c.routers[node]!.port(0) }], realm: 'app' } as unknown as autobahn.IConnectionOptions);
  open.push(conn);
  return conn.session;
}

const brokerOf = (node: number) => c.routers[node]!.router.realm('app')!.broker;

/** The args of the retained event a new get_retained subscriber on `node` gets for `topic` (undefined: none within 1 s). */
async function retainedAt(node: number, topic: string): Promise<unknown[] | undefined> {
  const s = await join(node);
  let got: unknown[] | undefined;
  const sub = await s.subscribe(
    topic,
    (args, _kw, details) => {
      if ((details as unknown as { retained?: boolean }).retained) got = args;
    },
    { get_retained: true },
  );
  await until(() => got !== undefined, 1000, 'retained event').catch(() => undefined);
  await s.unsubscribe(sub);
  return got;
}

describe('retained events across nodes', () => {
  it('a get_retained subscriber on another node gets the retained event; a newer one replaces it on every node', async () => {
    const pub1 = await join(0);
    const p1 = (await pub1.publish('com.example.ret', ['first', { n: 1 }], { k: 'v' }, { retain: true, acknowledge: true })) as unknown as { id: number };
    await until(() => [0, 1, 2].every((i) => brokerOf(i).retained!.newest('com.example.ret')?.publication === p1.id), 5000, 'retained on every node');
    expect(await retainedAt(1, 'com.example.ret')).toEqual(['first', { n: 1 }]);
    expect(await retainedAt(2, 'com.example.ret')).toEqual(['first', { n: 1 }]);

    // a newer retained event, published on node 3, replaces it on every node (the publisher's node too)
    const pub3 = await join(2);
    const p2 = (await pub3.publish('com.example.ret', ['second'], {}, { retain: true, acknowledge: true })) as unknown as { id: number };
    await until(() => [0, 1, 2].every((i) => brokerOf(i).retained!.newest('com.example.ret')?.publication === p2.id), 5000, 'newer retained on every node');
    for (const node of [0, 1, 2]) expect(await retainedAt(node, 'com.example.ret')).toEqual(['second']);
  });

  it('nodes hearing the same two retained events in either order keep the newer one', () => {
    // what each node does with another node's retained event: the newer (timestamp, then publication) stays
    const b = brokerOf(1);
    const base = { details: {}, payload: { type: 16, args: ['x'] }, bytes: 1, audience: { publisher: 1, excludeMe: true } };
    b.takeStored({ ...base, topic: 'com.example.order', publication: 10, timestamp: 2000 }, true, false);
    b.takeStored({ ...base, topic: 'com.example.order', publication: 11, timestamp: 1000 }, true, false);
    expect(b.retained!.newest('com.example.order')?.publication).toBe(10);
    const c = brokerOf(2);
    c.takeStored({ ...base, topic: 'com.example.order', publication: 11, timestamp: 1000 }, true, false);
    c.takeStored({ ...base, topic: 'com.example.order', publication: 10, timestamp: 2000 }, true, false);
    expect(c.retained!.newest('com.example.order')?.publication).toBe(10);
  });

  it('topic history is the cluster’s: read on any node, in publication order', async () => {
    const pub = await join(0);
    const ids: number[] = [];
    for (const n of [1, 2, 3]) ids.push(((await pub.publish('com.example.hist.a', [n], {}, { acknowledge: true })) as unknown as { id: number }).id);
    await until(() => [1, 2].every((i) => brokerOf(i).history!.holds('com.example.hist.a', ids[2]!)), 5000, 'history on every node');
    const reader = await join(1);
    const last = (await reader.call('wamp.topic.history.last', ['com.example.hist.a', 10])) as { publication: number; args: unknown[] }[];
    expect(last.map((e) => e.publication)).toEqual([...ids].reverse());
    expect(last.map((e) => e.args)).toEqual([[3], [2], [1]]);
  });

  it('a node that joins later gets the retained events and the history from the others', async () => {
    const late = await c.addNode('n4');
    await until(() => c.routers.every((r) => r.fabric!.peers().length === 3), 10_000, 'n4 in the cluster');
    await until(() => brokerOf(3).retained!.newest('com.example.ret') !== undefined, 5000, 'retained on n4');
    expect(late.fabric!.peers().sort()).toEqual(['n1', 'n2', 'n3']);
    expect(await retainedAt(3, 'com.example.ret')).toEqual(['second']);
    await until(() => [...(brokerOf(3).history?.all() ?? [])].length >= 3, 5000, 'history on n4');
    const reader = await join(3);
    const last = (await reader.call('wamp.topic.history.last', ['com.example.hist.a', 10])) as { args: unknown[] }[];
    expect(last.map((e) => e.args)).toEqual([[3], [2], [1]]);
    expect(c.mem.lines.filter((l) => String(l.msg).includes('undecodable'))).toEqual([]);
  });
});
