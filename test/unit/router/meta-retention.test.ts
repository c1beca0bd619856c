import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { routerSchema, type RouterConfigInput } from '../../../src/router/config.js';
import { Router } from '../../../src/router/core/router.js';
import type { Outgoing } from '../../../src/router/core/connection.js';
import { parseTimestamp } from '../../../src/router/core/history.js';
import { cbor, json, type Serializer } from '../../../src/router/wamp/serializers.js';

// The subscription/registration meta API, the empty prefix, event retention and event history, message
// by message: sessions on in-memory connections (no sockets), every frame encoded and decoded by the
// real serializers (the publishers' CBOR payloads take the router's raw-bytes lane).
const perm = (uri: string, match: 'exact' | 'prefix', flags: Record<string, boolean>) => ({ uri, match, ...flags });
const ALL = { call: true, register: true, publish: true, subscribe: true };
const CONFIG: RouterConfigInput = {
  realms: [
    {
      name: 'app',
      roles: [
        { name: 'admin', permissions: [perm('', 'prefix', ALL)] },
        { name: 'user', permissions: [perm('com.example.', 'prefix', ALL), perm('com.example.secret.', 'prefix', { publish: true }), perm('wamp.topic.history.', 'prefix', { call: true })] },
        { name: 'limited', permissions: [perm('com.example.', 'prefix', { publish: true, subscribe: true })] },
        { name: 'wide', permissions: [perm('', 'prefix', { subscribe: true, register: true }), perm('wamp.', 'prefix', {}), perm('org.private.', 'prefix', {})] },
      ],
      retention: { maxTopics: 3, maxBytes: 4096 },
      history: {
        topics: [
          { uri: 'com.example.log', limit: 3 },
          { uri: 'com.example.hist.', match: 'prefix', limit: 2 },
          { uri: 'com.example.secret.log', limit: 5 },
        ],
      },
    },
    { name: 'quiet', roles: [{ name: 'admin', permissions: [perm('', 'prefix', ALL)] }], retention: { enabled: false } },
  ],
};

type Wire = unknown[];
const MT = {
  WELCOME: 2,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
};

function setup(limits: Record<string, unknown> = {}) {
  const cfg = routerSchema.parse({ ...CONFIG, limits });
  const router = new Router(cfg, pino({ level: 'silent' }));
  let req = 1;
  const peer = (authrole: string, ser: Serializer = json, realm = 'app') => {
    const inbox: Wire[] = [];
    let closed = false;
    const conn = {
      serializer: ser,
      info: { type: 'rawsocket' as const, protocol: `wamp.2.${ser.id}`, peer: 'unix', source: 'unix', listener: 'l', tls: false },
      send(out: Outgoing) {
        if (!closed) inbox.push(ser.decode(out.encode(ser)) as Wire);
      },
      close() {
        closed = true;
      },
      /** A transport hands its next session over after GOODBYE; these tests keep one session per connection. */
      rebind() {},
    };
    const listener = {
      name: 'l',
      cfg: cfg.listeners[0] ?? routerSchema.parse({ ...CONFIG, listeners: [{ type: 'rawsocket', path: '/x.sock' }] }).listeners[0]!,
      component: { realm, authid: `${authrole}-${req}`, authrole, authmethod: 'trusted', authprovider: 'static' },
    } as Parameters<Router['attach']>[1];
    const s = router.attach(conn, listener);
    /** Sends a message (through the serializer's router-side decoder, as a transport would). */
    const send = (m: Wire) => s.receive(ser.decodeMessage(ser.encode(m)));
    send([1, realm, { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);
    const welcome = inbox.shift()!;
    expect(welcome[0]).toBe(MT.WELCOME);
    const p = {
      id: s.id,
      session: s,
      welcome,
      inbox,
      send,
      /** Everything received since the last call. */
      drain: () => inbox.splice(0),
      subscribe(topic: string, options: Record<string, unknown> = {}): Wire {
        const r = req++;
        send([MT.SUBSCRIBE, r, options, topic]);
        const answer = inbox.find((m) => (m[0] === MT.SUBSCRIBED && m[1] === r) || (m[0] === MT.ERROR && m[2] === r));
        expect(answer).toBeDefined();
        inbox.splice(inbox.indexOf(answer!), 1);
        return answer!;
      },
      subId(topic: string, options: Record<string, unknown> = {}): number {
        const a = p.subscribe(topic, options);
        expect(a[0], JSON.stringify(a)).toBe(MT.SUBSCRIBED);
        return a[2] as number;
      },
      register(proc: string, options: Record<string, unknown> = {}): Wire {
        const r = req++;
        send([MT.REGISTER, r, options, proc]);
        return inbox.shift()!;
      },
      publish(topic: string, args: unknown[], options: Record<string, unknown> = {}): number | undefined {
        const r = req++;
        send([MT.PUBLISH, r, { acknowledge: true, ...options }, topic, args]);
        const a = inbox.shift()!;
        expect(a[0], JSON.stringify(a)).toBe(MT.PUBLISHED);
        return a[2] as number;
      },
      /** CALL answered synchronously by the router: [RESULT args] or the ERROR. */
      call(proc: string, args: unknown[] = [], kwargs?: Record<string, unknown>): { ok: true; args: unknown[] } | { ok: false; error: string } {
        const r = req++;
        send(kwargs ? [MT.CALL, r, {}, proc, args, kwargs] : [MT.CALL, r, {}, proc, args]);
        const a = inbox.find((m) => (m[0] === MT.RESULT && m[1] === r) || (m[0] === MT.ERROR && m[2] === r));
        expect(a, `answer to ${proc}`).toBeDefined();
        inbox.splice(inbox.indexOf(a!), 1);
        return a![0] === MT.RESULT ? { ok: true, args: (a![3] as unknown[]) ?? [] } : { ok: false, error: a![4] as string };
      },
      result(proc: string, args: unknown[] = []): unknown {
        const r = p.call(proc, args);
        if (!r.ok) throw new Error(`${proc}: ${r.error}`);
        return r.args[0];
      },
      close: () => router.detach(s),
    };
    return p;
  };
  return { router, peer };
}

const events = (inbox: Wire[]) => inbox.filter((m) => m[0] === MT.EVENT);

describe('WELCOME', () => {
  it('announces the meta APIs, retention and history', () => {
    const { peer } = setup();
    const roles = (peer('admin').welcome[2] as { roles: { broker: { features: Record<string, boolean> }; dealer: { features: Record<string, boolean> } } }).roles;
    expect(roles.broker.features).toMatchObject({ subscription_meta_api: true, event_retention: true, event_history: true, session_meta_api: true });
    expect(roles.dealer.features).toMatchObject({ registration_meta_api: true });
  });
});

describe('subscription meta API', () => {
  it('sends on_create, on_subscribe, on_unsubscribe, on_delete in order with the spec payloads', () => {
    const { peer } = setup();
    const watcher = peer('admin');
    const topics = ['on_create', 'on_subscribe', 'on_unsubscribe', 'on_delete'].map((t) => `wamp.subscription.${t}`);
    const byId = new Map(topics.map((t) => [watcher.subId(t), t]));
    const a = peer('user');
    const b = peer('user', cbor);
    const before = Date.now();
    const sub = a.subId('com.example.a');
    expect(b.subId('com.example.a')).toBe(sub);
    a.send([MT.UNSUBSCRIBE, 900, sub]);
    expect(a.inbox.shift()).toEqual([MT.UNSUBSCRIBED, 900]);
    b.close(); // leaving the realm drops its subscriptions
    const seen = events(watcher.drain()).map((e) => [byId.get(e[1] as number), ...(e[4] as unknown[])]);
    expect(seen).toEqual([
      ['wamp.subscription.on_create', a.id, { id: sub, created: expect.any(String), uri: 'com.example.a', match: 'exact' }],
      ['wamp.subscription.on_subscribe', a.id, sub],
      ['wamp.subscription.on_subscribe', b.id, sub],
      ['wamp.subscription.on_unsubscribe', a.id, sub],
      ['wamp.subscription.on_unsubscribe', b.id, sub],
      ['wamp.subscription.on_delete', b.id, sub],
    ]);
    const created = Date.parse((seen[0]![2] as { created: string }).created);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now());
  });

  it('answers list, lookup, match, get, list_subscribers, count_subscribers', () => {
    const { peer } = setup();
    const admin = peer('admin');
    const a = peer('user');
    const b = peer('wide');
    const exact = a.subId('com.example.t');
    const prefix = a.subId('com.example.', { match: 'prefix' });
    const all = b.subId('', { match: 'prefix' });
    expect(b.subId('com.example.t')).toBe(exact);
    expect(admin.result('wamp.subscription.list')).toEqual({ exact: [exact], prefix: [prefix, all], wildcard: [] });
    expect(admin.result('wamp.subscription.lookup', ['com.example.t'])).toBe(exact);
    expect(admin.call('wamp.subscription.lookup', ['com.example.', { match: 'prefix' }])).toEqual({ ok: true, args: [prefix] });
    expect(admin.result('wamp.subscription.lookup', ['com.example.nothing'])).toBeNull();
    expect(admin.result('wamp.subscription.match', ['com.example.t'])).toEqual([exact, prefix, all]);
    expect(admin.result('wamp.subscription.match', ['org.other'])).toEqual([all]);
    expect(admin.result('wamp.subscription.get', [prefix])).toMatchObject({ id: prefix, uri: 'com.example.', match: 'prefix' });
    expect(admin.result('wamp.subscription.list_subscribers', [exact])).toEqual([a.id, b.id]);
    expect(admin.result('wamp.subscription.count_subscribers', [exact])).toBe(2);
    expect(admin.call('wamp.subscription.get', [424242])).toEqual({ ok: false, error: 'wamp.error.no_such_subscription' });
    expect(admin.call('wamp.subscription.count_subscribers', ['x'])).toEqual({ ok: false, error: 'wamp.error.invalid_argument' });
  });

  it('refuses the meta procedures and events to a role without permission on them', () => {
    const { peer } = setup();
    const limited = peer('limited');
    const wide = peer('wide');
    expect(limited.call('wamp.subscription.list')).toEqual({ ok: false, error: 'wamp.error.not_authorized' });
    expect(limited.call('wamp.registration.list')).toEqual({ ok: false, error: 'wamp.error.not_authorized' });
    expect(limited.subscribe('wamp.subscription.on_create')).toEqual([MT.ERROR, MT.SUBSCRIBE, expect.any(Number), {}, 'wamp.error.not_authorized', expect.any(Array)]);
    // the empty prefix does not reach the wamp. namespace a more specific rule denies
    wide.subId('', { match: 'prefix' });
    const a = peer('user');
    a.subId('com.example.x');
    expect(events(wide.drain())).toEqual([]);
  });
});

describe('registration meta API', () => {
  it('sends on_create, on_register, on_unregister, on_delete and answers the procedures', () => {
    const { peer } = setup();
    const watcher = peer('admin');
    const topics = ['on_create', 'on_register', 'on_unregister', 'on_delete'].map((t) => `wamp.registration.${t}`);
    const byId = new Map(topics.map((t) => [watcher.subId(t), t]));
    const a = peer('user');
    const b = peer('user', cbor);
    const r1 = a.register('com.example.rr', { invoke: 'roundrobin' });
    expect(r1[0]).toBe(MT.REGISTERED);
    const reg = r1[2] as number;
    expect(b.register('com.example.rr', { invoke: 'roundrobin' })[2]).toBe(reg);
    const p = a.register('com.example.', { match: 'prefix' })[2] as number;
    expect(watcher.result('wamp.registration.list')).toEqual({ exact: [reg], prefix: [p], wildcard: [] });
    expect(watcher.result('wamp.registration.lookup', ['com.example.rr'])).toBe(reg);
    expect(watcher.result('wamp.registration.lookup', ['com.example.', { match: 'prefix' }])).toBe(p);
    expect(watcher.result('wamp.registration.match', ['com.example.rr'])).toBe(reg);
    expect(watcher.result('wamp.registration.match', ['com.example.other'])).toBe(p);
    expect(watcher.result('wamp.registration.match', ['org.none'])).toBeNull();
    expect(watcher.result('wamp.registration.get', [reg])).toMatchObject({ id: reg, uri: 'com.example.rr', match: 'exact', invoke: 'roundrobin', created: expect.any(String) });
    expect(watcher.result('wamp.registration.list_callees', [reg])).toEqual([a.id, b.id]);
    expect(watcher.result('wamp.registration.count_callees', [reg])).toBe(2);
    expect(watcher.call('wamp.registration.get', [99999])).toEqual({ ok: false, error: 'wamp.error.no_such_registration' });
    a.send([MT.UNREGISTER, 901, reg]);
    expect(a.inbox.shift()).toEqual([MT.UNREGISTERED, 901]);
    b.close();
    const seen = events(watcher.drain()).map((e) => [byId.get(e[1] as number), ...(e[4] as unknown[])]);
    expect(seen).toEqual([
      ['wamp.registration.on_create', a.id, { id: reg, created: expect.any(String), uri: 'com.example.rr', match: 'exact', invoke: 'roundrobin' }],
      ['wamp.registration.on_register', a.id, reg],
      ['wamp.registration.on_register', b.id, reg],
      ['wamp.registration.on_create', a.id, { id: p, created: expect.any(String), uri: 'com.example.', match: 'prefix', invoke: 'single' }],
      ['wamp.registration.on_register', a.id, p],
      ['wamp.registration.on_unregister', a.id, reg],
      ['wamp.registration.on_unregister', b.id, reg],
      ['wamp.registration.on_delete', b.id, reg],
    ]);
  });
});

describe('empty prefix', () => {
  it('a "" prefix subscription gets events of unrelated topics, but only topics its role may subscribe', () => {
    const { peer } = setup();
    const wide = peer('wide');
    const sub = wide.subId('', { match: 'prefix' });
    const admin = peer('admin', cbor);
    const p1 = admin.publish('com.example.one', [1]);
    const p2 = admin.publish('org.other.two', [2], { retain: false });
    admin.publish('org.private.three', [3]); // a more specific rule denies wide this subtree
    expect(events(wide.drain())).toEqual([
      [MT.EVENT, sub, p1, { topic: 'com.example.one' }, [1]],
      [MT.EVENT, sub, p2, { topic: 'org.other.two' }, [2]],
    ]);
  });

  it('needs a rule that covers "": other roles are refused', () => {
    const { peer } = setup();
    const user = peer('user');
    expect(user.subscribe('', { match: 'prefix' })).toEqual([MT.ERROR, MT.SUBSCRIBE, expect.any(Number), {}, 'wamp.error.not_authorized', expect.any(Array)]);
    expect(user.register('', { match: 'prefix' })[4]).toBe('wamp.error.not_authorized');
    expect(user.subscribe('')[4]).toBe('wamp.error.invalid_uri'); // "" is a prefix only
  });

  it('a "" prefix registration serves any procedure without a more specific one, never wamp. or denied ones', () => {
    const { peer } = setup();
    const wide = peer('wide');
    const reg = wide.register('', { match: 'prefix' });
    expect(reg[0]).toBe(MT.REGISTERED);
    const admin = peer('admin');
    admin.send([MT.CALL, 77, {}, 'org.any.thing', ['x']]);
    expect(wide.drain()).toEqual([[MT.INVOCATION, 1, reg[2], { procedure: 'org.any.thing' }, ['x']]]);
    expect(admin.call('wamp.not.there')).toEqual({ ok: false, error: 'wamp.error.no_such_procedure' });
    expect(admin.call('org.private.x')).toEqual({ ok: false, error: 'wamp.error.no_such_procedure' });
    expect(wide.drain()).toEqual([]);
  });
});

describe('event retention', () => {
  it('delivers the last retained event right after SUBSCRIBED, marked retained, only when asked', () => {
    const { peer } = setup();
    const pub = peer('user', cbor);
    const p1 = pub.publish('com.example.temp', [21.5], { retain: true, disclose_me: true });
    pub.publish('com.example.temp', [22], {}); // not retained
    const s = peer('user'); // JSON: the CBOR bytes kept by the router are decoded for it
    s.send([MT.SUBSCRIBE, 5, { get_retained: true }, 'com.example.temp']);
    const [subscribed, ev, ...rest] = s.drain();
    expect(subscribed).toEqual([MT.SUBSCRIBED, 5, expect.any(Number)]);
    expect(ev).toEqual([MT.EVENT, subscribed![2], p1, { publisher: pub.id, publisher_authid: expect.any(String), publisher_authrole: 'user', retained: true }, [21.5]]);
    expect(rest).toEqual([]);
    const other = peer('user');
    other.subId('com.example.temp'); // no get_retained
    expect(other.drain()).toEqual([]);
    // the publisher would not have received its own event (exclude_me defaults to true)
    pub.subId('com.example.temp', { get_retained: true });
    expect(events(pub.drain())).toEqual([]);
  });

  it('keeps black/white-listed retained events apart: each subscriber gets the most recent it was eligible for', () => {
    const { peer } = setup();
    const pub = peer('admin');
    const open = pub.publish('com.example.state', ['everyone'], { retain: true });
    const adminOnly = pub.publish('com.example.state', ['admins'], { retain: true, eligible_authrole: ['admin'] });
    const user = peer('user');
    const us = user.subId('com.example.state', { get_retained: true });
    expect(events(user.drain())).toEqual([[MT.EVENT, us, open, { retained: true }, ['everyone']]]);
    const admin = peer('admin');
    const as = admin.subId('com.example.state', { get_retained: true });
    expect(events(admin.drain())).toEqual([[MT.EVENT, as, adminOnly, { retained: true }, ['admins']]]);
    pub.publish('com.example.state', ['new'], { retain: true, exclude_authrole: ['user'] });
    const user2 = peer('user');
    user2.subId('com.example.state', { get_retained: true });
    expect(events(user2.drain()).map((e) => e[4])).toEqual([['everyone']]);
  });

  it('gives a pattern subscription every matching retained topic its role may subscribe, none it may not', () => {
    const { peer } = setup();
    const pub = peer('admin');
    pub.publish('com.example.a', ['a'], { retain: true });
    pub.publish('com.example.secret.b', ['b'], { retain: true });
    const user = peer('user');
    const sub = user.subId('com.example.', { match: 'prefix', get_retained: true });
    expect(events(user.drain())).toEqual([[MT.EVENT, sub, expect.any(Number), { retained: true, topic: 'com.example.a' }, ['a']]]);
    // the exact topic it may not subscribe: refused, and no retained event
    expect(user.subscribe('com.example.secret.b', { get_retained: true })[4]).toBe('wamp.error.not_authorized');
    expect(user.drain()).toEqual([]);
    const admin = peer('admin');
    admin.subId('com.example.', { match: 'prefix', get_retained: true });
    expect(
      events(admin.drain())
        .map((e) => (e[3] as { topic: string }).topic)
        .sort(),
    ).toEqual(['com.example.a', 'com.example.secret.b']);
    pub.subId('com.example.', { match: 'prefix', get_retained: true });
    expect(events(pub.drain())).toEqual([]); // its own publications: exclude_me
    const wide = peer('wide');
    wide.subId('', { match: 'prefix', get_retained: true });
    expect(
      events(wide.drain())
        .map((e) => (e[3] as { topic: string }).topic)
        .sort(),
    ).toEqual(['com.example.a', 'com.example.secret.b']);
  });

  it('is bounded by topics and bytes (the topic retained longest ago goes first) and off when the realm disables it', () => {
    const { peer, router } = setup();
    const pub = peer('admin');
    for (const t of ['t1', 't2', 't3', 't4']) pub.publish(`com.example.${t}`, [t], { retain: true });
    const s = peer('user');
    for (const t of ['t1', 't2', 't3', 't4']) s.subId(`com.example.${t}`, { get_retained: true });
    expect(events(s.drain()).map((e) => e[4])).toEqual([['t2'], ['t3'], ['t4']]);
    pub.publish('com.example.big', ['x'.repeat(3000)], { retain: true });
    pub.publish('com.example.big2', ['y'.repeat(3000)], { retain: true });
    expect(router.realm('app')!.retained.size.bytes).toBeLessThanOrEqual(4096);
    const s2 = peer('user');
    s2.subId('com.example.big', { get_retained: true });
    s2.subId('com.example.big2', { get_retained: true });
    expect(events(s2.drain()).map((e) => (e[4] as string[])[0]![0])).toEqual(['y']);
    const q = peer('admin', json, 'quiet');
    q.publish('com.example.q', [1], { retain: true });
    const q2 = peer('admin', json, 'quiet');
    q2.subId('com.example.q', { get_retained: true });
    expect(events(q2.drain())).toEqual([]);
  });
});

describe('event history', () => {
  it('last, since and after return the configured topic ring, newest first', () => {
    const { peer } = setup();
    const pub = peer('admin', cbor);
    const t0 = new Date(Date.now() - 1).toISOString();
    const ids = [1, 2, 3, 4].map((n) => pub.publish('com.example.log', [n], { disclose_me: true }));
    const reader = peer('user');
    const last = reader.result('wamp.topic.history.last', ['com.example.log', 10]) as Record<string, unknown>[];
    expect(last.map((e) => e.args)).toEqual([[4], [3], [2]]); // ring of 3
    expect(last[0]).toEqual({
      timestamp: expect.any(String),
      publication: ids[3],
      topic: 'com.example.log',
      args: [4],
      kwargs: {},
      publisher: pub.id,
      publisher_authid: expect.any(String),
      publisher_authrole: 'admin',
    });
    expect(reader.result('wamp.topic.history.last', ['com.example.log', 1])).toHaveLength(1);
    expect((reader.result('wamp.topic.history.since', ['com.example.log', t0]) as unknown[]).length).toBe(3);
    expect(reader.result('wamp.topic.history.since', ['com.example.log', new Date(Date.now() + 60_000).toISOString()])).toEqual([]);
    const after = reader.result('wamp.topic.history.after', ['com.example.log', ids[2]]) as Record<string, unknown>[];
    expect(after.map((e) => e.publication)).toEqual([ids[3]]);
    expect(reader.call('wamp.topic.history.after', ['com.example.log', ids[0]])).toEqual({ ok: false, error: 'wamp.error.history_unavailable' }); // fell out of the ring
    expect(reader.call('wamp.topic.history.last', ['com.example.log', 0])).toEqual({ ok: false, error: 'wamp.error.invalid_argument' });
    expect(reader.call('wamp.topic.history.since', ['com.example.log', 'yesterday'])).toEqual({ ok: false, error: 'wamp.error.invalid_argument' });
  });

  it('keeps history only for configured topics (a prefix gives each topic its own ring)', () => {
    const { peer } = setup();
    const pub = peer('admin');
    pub.publish('com.example.other', [1]);
    for (const n of [1, 2, 3]) pub.publish('com.example.hist.a', [n]);
    pub.publish('com.example.hist.b', ['b']);
    const reader = peer('user');
    expect(reader.call('wamp.topic.history.last', ['com.example.other', 5])).toEqual({ ok: false, error: 'wamp.error.history_unavailable' });
    expect((reader.result('wamp.topic.history.last', ['com.example.hist.a', 5]) as { args: unknown[] }[]).map((e) => e.args)).toEqual([[3], [2]]);
    expect((reader.result('wamp.topic.history.last', ['com.example.hist.b', 5]) as { args: unknown[] }[]).map((e) => e.args)).toEqual([['b']]);
  });

  it('needs subscribe permission on the topic and call permission on the procedure; filters by the original lists', () => {
    const { peer } = setup();
    const pub = peer('admin');
    pub.publish('com.example.secret.log', ['s']);
    pub.publish('com.example.log', ['for admins'], { eligible_authrole: ['admin'] });
    pub.publish('com.example.log', ['for a session'], { eligible: [pub.id] }); // session IDs: never stored
    pub.publish('com.example.log', ['for all']);
    const user = peer('user');
    expect(user.call('wamp.topic.history.last', ['com.example.secret.log', 5])).toEqual({ ok: false, error: 'wamp.error.not_authorized' });
    expect((user.result('wamp.topic.history.last', ['com.example.log', 5]) as { args: unknown[] }[]).map((e) => e.args)).toEqual([['for all']]);
    const admin = peer('admin');
    expect((admin.result('wamp.topic.history.last', ['com.example.log', 5]) as { args: unknown[] }[]).map((e) => e.args)).toEqual([['for all'], ['for admins']]);
    expect(peer('limited').call('wamp.topic.history.last', ['com.example.log', 5])).toEqual({ ok: false, error: 'wamp.error.not_authorized' });
    // crossbar's wamp.subscription.get_events([subscription, limit]) over the same rings
    const sub = admin.subId('com.example.log');
    expect((admin.result('wamp.subscription.get_events', [sub, 1]) as { args: unknown[] }[]).map((e) => e.args)).toEqual([['for all']]);
  });

  it('cuts a result that would not fit in a message: the newest events, and kwargs truncated', () => {
    const { peer } = setup({ maxMessageSize: 4096 }); // results up to 2048 payload bytes
    const pub = peer('admin');
    for (const c of ['a', 'b', 'c']) pub.publish('com.example.log', [c.repeat(800)]);
    const reader = peer('user');
    reader.send([MT.CALL, 4242, {}, 'wamp.topic.history.last', ['com.example.log', 3]]);
    const [res] = reader.drain();
    expect(res![0]).toBe(MT.RESULT);
    expect((res![3] as [{ args: string[] }[]])[0].map((e) => e.args[0]![0])).toEqual(['c', 'b']);
    expect(res![4]).toEqual({ truncated: true });
    expect(reader.call('wamp.topic.history.last', ['com.example.log', 2])).toMatchObject({ ok: true });
  });

  it('parses the spec timestamp form with a colon before the milliseconds', () => {
    expect(parseTimestamp('2013-12-21T13:43:11:000Z')).toBe(Date.UTC(2013, 11, 21, 13, 43, 11));
    expect(parseTimestamp('2013-12-21T13:43:11.250Z')).toBe(Date.UTC(2013, 11, 21, 13, 43, 11, 250));
    expect(parseTimestamp(12)).toBeUndefined();
  });
});

describe('realm retention/history config', () => {
  it('has bounded defaults and names the file, line and field of a bad value', async () => {
    const { parseConfigText } = await import('../../../src/config/load.js');
    const c = routerSchema.parse({ realms: [{ name: 'app' }] });
    expect(c.realms[0]!.retention).toEqual({ enabled: true, maxTopics: 1000, maxBytes: 4 * 1024 * 1024 });
    expect(c.realms[0]!.history).toEqual({ topics: [], maxTopics: 1000, maxBytes: 16 * 1024 * 1024 });
    const bad = 'realms:\n  - name: app\n    history:\n      topics:\n        - { uri: com.example.log, limit: 0 }\n';
    expect(() => parseConfigText(routerSchema, bad, 'r.yaml')).toThrow(/r\.yaml:5:\d+: .*limit/);
  });
});

describe('history and retention bounds (property)', () => {
  it('rings stay within limit, maxTopics and maxBytes and return the newest events of each topic', async () => {
    const fc = (await import('fast-check')).default;
    const { EventHistory } = await import('../../../src/router/core/history.js');
    const { RetainedEvents } = await import('../../../src/router/core/retention.js');
    const reader = { id: 1, principal: { authid: 'r', authrole: 'r' } } as unknown as Parameters<InstanceType<typeof EventHistory>['read']>[1];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 600 })), { maxLength: 400 }), (pubs) => {
        const h = new EventHistory({ topics: [{ uri: 't.', match: 'prefix', limit: 4 }], maxTopics: 4, maxBytes: 2048 });
        const r = new RetainedEvents({ enabled: true, maxTopics: 3, maxBytes: 1500 });
        const kept = new Map<string, number[]>();
        pubs.forEach(([t, bytes], i) => {
          const e = { topic: `t.${t}`, publication: i + 1, timestamp: i, details: {}, payload: { type: 16 }, bytes, audience: { publisher: 0, excludeMe: true } };
          h.record(e);
          r.retain(e);
          kept.set(e.topic, [...(kept.get(e.topic) ?? []), i + 1]);
        });
        const size = h.size;
        expect(size.topics).toBeLessThanOrEqual(4);
        expect(size.bytes).toBeLessThanOrEqual(2048);
        let events = 0;
        let bytes = 0;
        for (let t = 0; t <= 5; t++) {
          const got = h.read(`t.${t}`, reader, () => true);
          expect(got.length).toBeLessThanOrEqual(4);
          // what a ring holds is the newest of its topic, newest first, with no gap
          const want = (kept.get(`t.${t}`) ?? []).slice(-got.length).reverse();
          expect(got.map((e) => e.publication)).toEqual(got.length ? want : []);
          events += got.length;
          bytes += got.reduce((n, e) => n + e.bytes, 0);
        }
        expect(events).toBe(size.events);
        expect(bytes).toBe(size.bytes);
        expect(r.size.topics).toBeLessThanOrEqual(3);
        expect(r.size.bytes).toBeLessThanOrEqual(1500);
      }),
      { numRuns: 300 },
    );
    // long runs: the arrival list and the rings compact themselves
    const h = new EventHistory({ topics: [{ uri: 't.', match: 'prefix', limit: 100 }], maxTopics: 10, maxBytes: 1_000_000 });
    for (let i = 1; i <= 20_000; i++) h.record({ topic: `t.${i % 3}`, publication: i, timestamp: i, details: {}, payload: { type: 16 }, bytes: 10, audience: { publisher: 0, excludeMe: true } });
    expect(h.size).toEqual({ topics: 3, events: 300, bytes: 3000 });
    expect(h.read('t.2', reader, () => true, 3).map((e) => e.publication)).toEqual([20_000, 19_997, 19_994]);
  });
});
