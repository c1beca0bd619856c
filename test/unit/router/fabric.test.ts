import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, EventBatchWriter, readEventBatch } from '../../../src/router/fabric/frame.js';
import { Outgoing } from '../../../src/router/core/connection.js';
import { cbor, json } from '../../../src/router/wamp/serializers.js';
import { claimKey, derivedId } from '../../../src/router/fabric/ids.js';
import { applyOp, diffStates, PeerTracker, stateFromJson, stateToJson, type NodeState, type Op, type SessionInfo } from '../../../src/router/fabric/replica.js';
import { routerSchema } from '../../../src/router/config.js';
import { Broker } from '../../../src/router/core/broker.js';
import { Dealer } from '../../../src/router/core/dealer.js';

const info = (sid: number, authrole = 'backend'): SessionInfo => ({
  sid,
  authid: `a${sid}`,
  authrole,
  authmethod: 'anonymous',
  authprovider: 'static',
  transport: { type: 'rawsocket', protocol: 'wamp.2.cbor', peer: 'unix' },
  cancel: true,
});

describe('fabric IDs', () => {
  it('derives the same subscription/registration ID from the same URI and policy, in [1, 2^53]', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('exact', 'prefix', 'wildcard'), (uri, match) => {
        const a = derivedId('sub', match, uri);
        expect(a).toBe(derivedId('sub', match, uri));
        expect(Number.isSafeInteger(a) && a >= 1 && a <= 2 ** 53).toBe(true);
      }),
    );
    // policy and kind are part of the identity: com.x exact and com.x prefix are two subscriptions
    expect(derivedId('sub', 'exact', 'com.x')).not.toBe(derivedId('sub', 'prefix', 'com.x'));
    expect(derivedId('sub', 'exact', 'com.x')).not.toBe(derivedId('reg', 'exact', 'com.x'));
  });

  it('makes distinct IDs for many URIs and NATS-safe claim keys', () => {
    const ids = new Set<number>();
    for (let i = 0; i < 20_000; i++) ids.add(derivedId('reg', 'exact', `com.example.p${i}`));
    expect(ids.size).toBe(20_000);
    expect(claimKey('prefix', 'com.ex ample.*>')).toMatch(/^r\.[0-9a-f]+$/);
    expect(claimKey('exact', 'a')).not.toBe(claimKey('prefix', 'a'));
  });

  it('a broker with derived IDs gives a subscription the same ID on every node', () => {
    const a = new Broker();
    const b = new Broker();
    a.idFor = b.idFor = (t, m) => derivedId('sub', m, t);
    const fake = (id: number) => ({ id, subscriptions: new Set() }) as unknown as Parameters<Broker['attach']>[0];
    expect(a.attach(fake(1), 'com.t', 'prefix').id).toBe(b.attach(fake(2), 'com.t', 'prefix').id);
  });
});

describe('matching over the replica', () => {
  it('remote callees and subscribers match like local ones: prefix by character, wildcard by component', () => {
    const d = new Dealer(10);
    d.idFor = (p, m) => derivedId('reg', m, p);
    const remote = (id: number) => ({ id, registrations: new Set(), subscriptions: new Set() }) as unknown as Parameters<Dealer['attach']>[0];
    const reg = d.attach(remote(7), 'com.a.b', 'prefix', 'roundrobin');
    d.attach(remote(8), 'com.a.b', 'prefix', 'roundrobin');
    expect(d.match('com.a.bc')).toBe(reg);
    expect(reg.callees.map((s) => s.id)).toEqual([7, 8]);
    expect(reg.id).toBe(derivedId('reg', 'prefix', 'com.a.b'));
    d.detach(remote(7) as never, 'com.a.b', 'prefix'); // another object with the same ID is not that callee
    expect(reg.callees).toHaveLength(2);
    d.detach(reg.callees[0]!, 'com.a.b', 'prefix');
    d.detach(reg.callees[0]!, 'com.a.b', 'prefix');
    expect(d.match('com.a.bc')).toBeUndefined();
    const b = new Broker();
    b.attach(remote(9), 'com..c', 'wildcard');
    expect(b.matching('com.x.c')).toHaveLength(1);
    expect(b.matching('com.x.y.c')).toHaveLength(0);
  });
});

describe('fabric replica', () => {
  const realm = 'app';
  it('applies deltas and refuses ones that do not fit (resync)', () => {
    const st: NodeState = new Map();
    expect(applyOp(st, { o: 'sub', r: realm, sid: 1, uri: 'x', match: 'exact' })).toBe(false); // unknown session
    expect(applyOp(st, { o: 'join', r: realm, s: info(1) })).toBe(true);
    expect(applyOp(st, { o: 'join', r: realm, s: info(1) })).toBe(false); // twice
    expect(applyOp(st, { o: 'sub', r: realm, sid: 1, uri: 'x', match: 'exact' })).toBe(true);
    expect(applyOp(st, { o: 'reg', r: realm, sid: 1, uri: 'p', match: 'prefix', invoke: 'roundrobin' })).toBe(true);
    expect(applyOp(st, { o: 'unsub', r: realm, sid: 1, uri: 'y', match: 'exact' })).toBe(false);
    expect(st.get(realm)!.get(1)!.regs.size).toBe(1);
    expect(applyOp(st, { o: 'leave', r: realm, sid: 1 })).toBe(true);
    expect(st.get(realm)!.size).toBe(0);
  });

  it('a diff turns any state into any other (snapshot after a gap), through JSON', () => {
    const opArb = fc.oneof(
      fc.record({ o: fc.constant('join' as const), r: fc.constant(realm), s: fc.integer({ min: 1, max: 5 }).map((n) => info(n)) }),
      fc.record({ o: fc.constant('leave' as const), r: fc.constant(realm), sid: fc.integer({ min: 1, max: 5 }) }),
      fc.record({
        o: fc.constantFrom('sub' as const, 'unsub' as const),
        r: fc.constant(realm),
        sid: fc.integer({ min: 1, max: 5 }),
        uri: fc.constantFrom('a', 'b', 'c'),
        match: fc.constantFrom('exact' as const, 'prefix' as const),
      }),
      fc.record({
        o: fc.constant('reg' as const),
        r: fc.constant(realm),
        sid: fc.integer({ min: 1, max: 5 }),
        uri: fc.constantFrom('a', 'b'),
        match: fc.constant('exact' as const),
        invoke: fc.constantFrom('single' as const, 'roundrobin' as const),
      }),
      fc.record({ o: fc.constant('unreg' as const), r: fc.constant(realm), sid: fc.integer({ min: 1, max: 5 }), uri: fc.constantFrom('a', 'b'), match: fc.constant('exact' as const) }),
    ) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 30 }), (xs, ys) => {
        const from: NodeState = new Map();
        const to: NodeState = new Map();
        for (const op of xs) applyOp(from, op);
        for (const op of ys) applyOp(to, op);
        const wire = stateFromJson(JSON.parse(JSON.stringify(stateToJson(to))));
        for (const op of diffStates(from, wire)) expect(applyOp(from, op)).toBe(true);
        const norm = (s: NodeState) =>
          JSON.stringify(
            stateToJson(s)
              .map((r) => ({ ...r, sessions: [...r.sessions].sort((a, b) => a.info.sid - b.info.sid) }))
              .filter((r) => r.sessions.length > 0),
          );
        expect(norm(from)).toBe(norm(to));
      }),
    );
  });
});

describe('fabric peer tracking', () => {
  it('applies the next delta, ignores old ones, asks a snapshot on a gap, buffers while syncing', () => {
    const t = new PeerTracker(1000, 500);
    expect(t.heartbeat('n2', 'e1', 5, 0)).toBe('resync'); // unknown node
    expect(t.delta('n2', 'e1', 6, 10)).toBe('buffer');
    expect(t.synced('n2', 'e1', 5)).toBe(true);
    expect(t.next('n2', 6, 20)).toBe('apply');
    expect(t.delta('n2', 'e1', 6, 30)).toBe('ignore'); // duplicate
    expect(t.delta('n2', 'e1', 7, 40)).toBe('apply');
    expect(t.delta('n2', 'e1', 9, 50)).toBe('resync'); // 8 was lost
    expect(t.heartbeat('n2', 'e1', 9, 100)).toBe('ignore'); // a snapshot is under way
    expect(t.heartbeat('n2', 'e1', 9, 600)).toBe('resync'); // unanswered: asked again
    expect(t.synced('n2', 'e1', 9)).toBe(true);
    expect(t.heartbeat('n2', 'e1', 9, 700)).toBe('ignore');
    expect(t.heartbeat('n2', 'e1', 10, 800)).toBe('resync'); // a heartbeat ahead of what we have
  });

  it('a restarted node (new epoch) resets its replica; a silent one dies and is forgotten', () => {
    const t = new PeerTracker(1000);
    t.heartbeat('n2', 'e1', 0, 0);
    t.synced('n2', 'e1', 0);
    expect(t.delta('n2', 'e2', 1, 100)).toBe('reset');
    expect(t.synced('n2', 'e1', 3)).toBe(false); // a late snapshot of the old epoch is dropped
    expect(t.expire(1050)).toEqual([]);
    expect(t.expire(1101)).toEqual(['n2']);
    expect(t.known('n2')).toBe(false);
    expect(t.heartbeat('n2', 'e2', 4, 1200)).toBe('resync'); // heard again: starts over with a snapshot
  });
});

describe('fabric frames and config', () => {
  it('round-trips a header and a body; refuses truncated frames', () => {
    const f = encodeFrame({ k: 'ev', to: [1, 2] }, Buffer.from([1, 2, 3]));
    const d = decodeFrame(f);
    expect(d.header).toEqual({ k: 'ev', to: [1, 2] });
    expect([...d.body]).toEqual([1, 2, 3]);
    expect(() => decodeFrame(f.subarray(0, 5))).toThrow(/truncated/);
    expect(() => decodeFrame(encodeFrame([] as unknown as object))).toThrow(/not an object/);
  });

  it('carries a batch of EVENTs (one whose payload stayed CBOR bytes, one with plain args) with their recipients', () => {
    const pub = cbor.decodeMessage(cbor.encode([16, 7, {}, 'com.t', ['x', 2 ** 40], { a: [1, { b: null }] }])) as unknown[];
    const wires = [
      [36, 5, 6, { topic: 'com.t' }, pub[pub.length - 1]],
      [36, 5, 7, {}, ['plain'], { k: 'v' }],
      [36, 5, 8, {}, ['again']],
    ];
    const bodies = wires.map((w) => cbor.encode(w));
    // recipients: [2^53 - 1, 3], then [9], then [9] again (written once)
    const sids = [2 ** 53 - 1, 3, 9, 9];
    const counts = [2, 1, 1];
    const header = '{"k":"evs","r":"app","n":"n1"}';
    let bytes = 0;
    for (const [i, b] of bodies.entries()) bytes += EventBatchWriter.entrySize(counts[i]!, b.length);
    const w = new EventBatchWriter(header, bytes);
    let from = 0;
    const same: boolean[] = [];
    for (const [i, b] of bodies.entries()) {
      same.push(w.sameAsBefore(sids, from, counts[i]!));
      b.copy(w.out, w.add(sids, from, counts[i]!, same[i]!, b.length));
      from += counts[i]!;
    }
    expect(same).toEqual([false, false, true]);
    expect(w.length).toBe(w.out.length - 8); // the repeated recipient is not written
    const f = decodeFrame(w.out.subarray(0, w.length));
    expect(f.header).toEqual({ k: 'evs', r: 'app', n: 'n1' });
    const seen: { to: number[]; wire: unknown }[] = [];
    readEventBatch(f.body, (to, start, end) => seen.push({ to, wire: cbor.decode(cbor.encode(cbor.decodeMessage(f.body.subarray(start, end)))) }));
    expect(seen.map((x) => x.to)).toEqual([[2 ** 53 - 1, 3], [9], [9]]);
    expect(seen.map((x) => x.wire)).toEqual(wires.map((x) => cbor.decode(cbor.encode(x))));
    // a truncated batch: the entries before the cut are visited, then it throws
    const cut: number[][] = [];
    expect(() => readEventBatch(f.body.subarray(0, f.body.length - 3), (to) => cut.push(to))).toThrow(/truncated/);
    expect(cut).toEqual([[2 ** 53 - 1, 3], [9]]);
    expect(() => readEventBatch(Buffer.from([5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]), () => undefined)).toThrow(/without recipients/);
  });

  it('an encoded message goes out as its bytes to its serializer and decoded to another', () => {
    const bytes = cbor.encode([36, 5, 6, {}, ['x']]);
    let decoded = 0;
    const out = Outgoing.encoded(cbor, bytes, (b) => {
      decoded++;
      return cbor.decodeMessage(b) as unknown[];
    });
    expect(out.directSize(cbor)).toBe(-1);
    expect(out.encode(cbor)).toBe(bytes);
    expect(decoded).toBe(0);
    expect(JSON.parse(out.encode(json).toString())).toEqual([36, 5, 6, {}, ['x']]);
    expect(decoded).toBe(1);
  });

  it('takes the fabric section with defaults and names the bad field', () => {
    const cfg = routerSchema.parse({ fabric: { node: 'n1' } });
    expect(cfg.fabric).toEqual({ node: 'n1', nats: { url: 'nats://127.0.0.1:4222' }, heartbeatMs: 500, deadAfterMs: 2000 });
    expect(routerSchema.parse({}).fabric).toBeUndefined();
    const bad = routerSchema.safeParse({ fabric: { node: 'N 1', heartbeatMs: 500, deadAfterMs: 600 } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('fabric.node');
    expect(routerSchema.safeParse({ fabric: { node: 'n1', heartbeatMs: 500, deadAfterMs: 600 } }).error!.issues[0]!.path.join('.')).toBe('fabric.deadAfterMs');
  });
});
