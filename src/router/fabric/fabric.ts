import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Msg as NatsMsg, NatsConnection, Subscription as NatsSubscription } from 'nats';
import { Outgoing } from '../core/connection.js';
import type { InvokePolicy, Pending, RemoteCaller } from '../core/dealer.js';
import type { Realm } from '../core/realm.js';
import type { Router } from '../core/router.js';
import type { Session } from '../core/session.js';
import type { MatchPolicy } from '../core/uri.js';
import { E, MT } from '../wamp/codes.js';
import { parseMessage, withPayload, type Dict, type Msg } from '../wamp/messages.js';
import { cbor } from '../wamp/serializers.js';
import { decodeFrame, encodeFrame, encodeFrameParts, EventBatchWriter, readEventBatch } from './frame.js';
import { derivedId } from './ids.js';
import { RemoteSession, sessionInfo, type RemoteSink } from './remote-session.js';
import { decodeStored, encodeStored, type StoredItem } from './stored.js';
import { applyOp, diffStates, keyOf, PeerTracker, stateFromJson, stateToJson, type NodeState, type Op, type StateJson } from './replica.js';

export interface FabricSettings {
  node: string;
  heartbeatMs: number;
  deadAfterMs: number;
}

/** Events to one node kept for one pass at most (more are sent at once, and a batch starts again). */
const EVENTS_PER_MESSAGE = 2048;
/** How long a REGISTER made while the fabric is still starting waits for it before being refused. */
const READY_WAIT_MS = 30_000;
/** Event bytes per NATS message before another one starts (nats-server's max_payload is 1 MiB by default). */
const MESSAGE_BYTES = 512 * 1024;

/** Retained and history events per NATS message when a node's whole store goes to a (re)joining node. */
const STORED_BYTES = 256 * 1024;

/** Subjects (all under `bulwark.`, see the fabric contract). */
export const STATE_SUBJECT = 'bulwark.fabric.state';
/** Publications kept for retention or history, to every node. */
export const STORED_SUBJECT = 'bulwark.fabric.stored';
export const nodeSubject = (node: string): string => `bulwark.fabric.node.${node}`;

/** Asked before a registration is made (cluster-wide uniqueness); see claims.ts. */
export interface ClaimBook {
  claim(node: string, procedure: string, match: string, invoke: string): Promise<{ ok: true } | { ok: false; uri: string; message: string }>;
  /** The node whose callee holds the registration's claim (undefined: none). */
  owner(procedure: string, match: string): Promise<{ node: string; epoch: string } | undefined>;
  /**
   * The last callee of a registration made here is gone, or a dead node's registration: its claim goes,
   * unless `registeredAgain()` says this node holds a registration of it again by the time of the delete.
   */
  release(procedure: string, match: string, ownerNode: string | undefined, registeredAgain: () => boolean): void;
  close(): Promise<void>;
}

type Header = Record<string, unknown>;

/**
 * One node of the cluster: replicates this node's sessions, subscriptions and registrations to the other
 * nodes (deltas with sequence numbers, heartbeats, snapshots on a gap), keeps their replicas as
 * RemoteSessions in this node's realms, carries EVENT/INVOCATION/INTERRUPT to remote sessions and the
 * answers back, and drops a node unheard for deadAfterMs. See README.md.
 */
export class Fabric implements RemoteSink {
  readonly epoch = randomBytes(8).toString('hex');
  private seq = 0;
  /** This node's own state (what a snapshot sends). */
  private readonly local: NodeState = new Map();
  /** What is applied of each peer. */
  private readonly replicas = new Map<string, NodeState>();
  private readonly proxies = new Map<string, Map<number, RemoteSession>>();
  private readonly tracker: PeerTracker;
  private readonly buffers = new Map<string, { seq: number; op: Op }[]>();
  private readonly syncing = new Set<string>();
  /** Invocations of local callees whose caller is on another node: `node\0callee\0invocation` there. */
  private readonly relays = new Map<string, Pending>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly subs: NatsSubscription[] = [];
  /**
   * EVENTs waiting for the end of this pass, one batch per node: outs[i] goes to counts[i] sessions,
   * whose IDs follow those of outs[i - 1] in sids (flat arrays: nothing allocated per event).
   */
  private readonly events = new Map<string, EventBatch>();
  private flushQueued = false;
  private closed = false;
  /** Clashing registrations being settled (realm and keyOf): one loop each. */
  private readonly settling = new Set<string>();
  /** The node being dropped (its registrations' claims are released by the survivors). */
  private dropping: string | undefined;
  /**
   * The wire format this node announces (in heartbeats, deltas and snapshot requests) and sends: 2 = event
   * batches in binary ('evb') and retained/history events; 1 = an earlier release's ('evs', JSON recipients
   * and lengths; no stored events). Each peer gets the format it announced (none: 1), so a cluster in a
   * rolling upgrade keeps its events flowing; tests set 1 to play a node of the earlier release.
   */
  wireFormat = 2;
  /** The format each peer announced (absent: 1). */
  private readonly peerFormat = new Map<string, number>();
  /** Counters (tests and the bench read them). */
  readonly counters = { deltasSent: 0, snapshots: 0, nodesDropped: 0 };

  constructor(
    private readonly router: Router,
    readonly settings: FabricSettings,
    private readonly log: Logger,
  ) {
    this.tracker = new PeerTracker(settings.deadAfterMs);
  }

  private nc: NatsConnection | undefined;
  /** undefined: not known yet (registrations wait... are refused); null: no JetStream, the replica decides. */
  private claims: ClaimBook | null | undefined;

  /** Hooks into every realm (before any session joins): from now on local changes are kept for the cluster. */
  attach(): void {
    for (const realm of this.router.allRealms()) this.attachRealm(realm);
  }

  /** Connected: starts listening, heartbeating and watching peers; registrations are claimed in `claims`. */
  run(nc: NatsConnection): void {
    this.nc = nc;
    this.subs.push(this.nc.subscribe(STATE_SUBJECT, { callback: (err, m) => !err && this.onState(m) }));
    this.subs.push(this.nc.subscribe(nodeSubject(this.settings.node), { callback: (err, m) => !err && this.onDirect(m) }));
    this.subs.push(this.nc.subscribe(STORED_SUBJECT, { callback: (err, m) => !err && this.onStored(m.data) }));
    const hb = setInterval(() => this.broadcast({ k: 'h', n: this.settings.node, e: this.epoch, q: this.seq, f: this.wireFormat }), this.settings.heartbeatMs);
    const watch = setInterval(() => this.expire(), Math.max(50, Math.floor(this.settings.heartbeatMs / 4)));
    this.timers.push(hb, watch);
    this.broadcast({ k: 'h', n: this.settings.node, e: this.epoch, q: this.seq, f: this.wireFormat });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    for (const node of [...this.proxies.keys()]) this.dropNode(node, 'fabric closed');
    await this.claims?.close();
  }

  /** Claims from now on (null: JetStream is not there; the replica alone decides). */
  useClaims(claims: ClaimBook | null): void {
    this.claims = claims;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private readonly readyWaiters: (() => void)[] = [];

  /** Resolves once claims are known (or after `ms`, whichever is first). */
  private whenReady(ms: number): Promise<void> {
    if (this.claims !== undefined && this.nc !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.readyWaiters.indexOf(w);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        resolve();
      }, ms);
      const w = () => {
        clearTimeout(t);
        resolve();
      };
      this.readyWaiters.push(w);
    });
  }

  /** Whether `node` is this one or a peer heard from within deadAfterMs. */
  alive(node: string): boolean {
    return node === this.settings.node || this.tracker.known(node);
  }

  /** This node's last delta number. */
  get sequence(): number {
    return this.seq;
  }

  /** The last delta of `node` applied here (undefined: not in sync with it). */
  appliedOf(node: string): number | undefined {
    return this.syncing.has(node) ? undefined : this.tracker.applied(node);
  }

  /** Peers this node has a replica of. */
  peers(): string[] {
    return [...this.replicas.keys()];
  }

  // ---- local side: hooks the realm calls ----

  private attachRealm(realm: Realm): void {
    const r = realm.name;
    realm.broker.idFor = (topic, match) => derivedId('sub', match, topic);
    realm.dealer.idFor = (proc, match) => derivedId('reg', match, proc);
    // meta events: each node tells its own sessions (about every session of the cluster) exactly once
    realm.broker.internalAudience = (t) => !(t instanceof RemoteSession);
    // retained events and history are the cluster's: what this node keeps goes to every node
    // (those of one event-loop pass together: a busy history topic costs one NATS message per pass)
    realm.broker.stored = (e, retained, history) => {
      if (this.wireFormat < 2) return;
      let list = this.storedQueue.get(r);
      if (list === undefined) {
        this.storedQueue.set(r, (list = []));
        if (this.storedQueue.size === 1) setImmediate(() => this.flushStored());
      }
      list.push({ e, retained, history });
    };
    realm.link = {
      joined: (s) => {
        if (!(s instanceof RemoteSession)) this.emit({ o: 'join', r, s: sessionInfo(s) });
      },
      left: (s) => {
        if (s instanceof RemoteSession) return;
        this.answerRelaysOf(s);
        this.emit({ o: 'leave', r, sid: s.id });
      },
    };
    const bo = realm.broker.observer;
    realm.broker.observer = {
      subscribed: (s, sub, created) => {
        bo?.subscribed(s, sub, created);
        if (!(s instanceof RemoteSession)) this.emit({ o: 'sub', r, sid: s.id, uri: sub.topic, match: sub.match });
      },
      unsubscribed: (s, sub, deleted) => {
        bo?.unsubscribed(s, sub, deleted);
        if (!(s instanceof RemoteSession)) this.emit({ o: 'unsub', r, sid: s.id, uri: sub.topic, match: sub.match });
      },
    };
    const ro = realm.dealer.observer;
    realm.dealer.observer = {
      registered: (s, reg, created) => {
        ro?.registered(s, reg, created);
        if (!(s instanceof RemoteSession)) this.emit({ o: 'reg', r, sid: s.id, uri: reg.procedure, match: reg.match, invoke: reg.invoke });
      },
      unregistered: (s, reg, deleted) => {
        ro?.unregistered(s, reg, deleted);
        if (!(s instanceof RemoteSession)) this.emit({ o: 'unreg', r, sid: s.id, uri: reg.procedure, match: reg.match });
        // the registration is gone from the whole cluster's view: its claim goes (a local callee was the
        // last, or a dead node's; a live node releases its own)
        if (deleted && this.claims && this.nc && (!(s instanceof RemoteSession) || s.node === this.dropping)) {
          const { procedure, match } = reg;
          this.claims.release(procedure, match, s instanceof RemoteSession ? s.node : undefined, () => realm.dealer.lookupExact(procedure, match) !== undefined);
        }
      },
    };
    // the session meta API answers from the replica at once; while a node's replica is being (re)built
    // the answer says so: kwargs {partial: true, missing: [node, ...]}
    for (const uri of ['wamp.session.count', 'wamp.session.list']) {
      const inner = realm.dealer.internal.get(uri);
      if (!inner) continue;
      realm.dealer.internal.set(uri, (caller, args, kwargs) => {
        const [a, k] = inner(caller, args, kwargs);
        const missing = this.tracker.nodes().filter((n) => !this.tracker.inSync(n) || this.syncing.has(n));
        return missing.length > 0 ? [a, { ...k, partial: true, missing }] : [a, k];
      });
    }
    const claim = (_s: Session, proc: string, match: MatchPolicy, invoke: InvokePolicy, done: (uri?: string, message?: string) => void, waited: boolean): void => {
      const claims = this.claims;
      if (claims === null) return done();
      if (claims === undefined || this.nc === undefined) {
        // the fabric is still starting (a router that just started, its nats-server booting): a component
        // that joined first gets its answer once the fabric is up, not an error it may never retry
        if (waited) return done('bulwark.error.fabric_unavailable', 'the cluster fabric is not ready yet; try again');
        return void this.whenReady(READY_WAIT_MS).then(() => claim(_s, proc, match, invoke, done, true));
      }
      claims.claim(this.settings.node, proc, match, invoke).then(
        (res) => (res.ok ? done() : done(res.uri, res.message)),
        (e: unknown) => {
          this.log.warn({ err: String(e), procedure: proc }, 'fabric: registration claim failed');
          done('bulwark.error.fabric_unavailable', 'the cluster cannot confirm this registration now (no quorum); try again');
        },
      );
    };
    realm.dealer.claim = (s, proc, match, invoke, done) => claim(s, proc, match, invoke, done, false);
  }

  /** A local change: into this node's state, then out as the next delta (a change of a session that left is not sent). */
  private emit(op: Op): void {
    if (!applyOp(this.local, op)) return;
    this.seq++;
    this.counters.deltasSent++;
    this.broadcast({ k: 'd', n: this.settings.node, e: this.epoch, q: this.seq, op, f: this.wireFormat });
  }

  private broadcast(msg: object): void {
    if (this.closed || this.nc === undefined || this.nc.isClosed()) return;
    this.nc.publish(STATE_SUBJECT, Buffer.from(JSON.stringify(msg), 'utf8'));
  }

  /** Publications kept here in this pass, by realm (sent to every node when it ends). */
  private readonly storedQueue = new Map<string, StoredItem[]>();

  private flushStored(): void {
    const queued = [...this.storedQueue];
    this.storedQueue.clear();
    for (const [realm, items] of queued) this.sendStored(STORED_SUBJECT, realm, items);
  }

  /** Publications kept here, to `subject` (every node, or one that is (re)joining); one too large for NATS stays here (logged). */
  private sendStored(subject: string, realm: string, items: readonly StoredItem[]): void {
    const nc = this.nc;
    if (this.closed || nc === undefined || nc.isClosed() || items.length === 0) return;
    const max = nc.info?.max_payload ?? 1024 * 1024;
    for (const frame of encodeStored(realm, this.settings.node, items, STORED_BYTES)) {
      if (frame.length > max) {
        this.log.warn({ realm, bytes: frame.length, max }, 'fabric: a retained/history event too large for NATS stays on this node');
        continue;
      }
      nc.publish(subject, frame);
    }
  }

  /** Another node's retained/history events (as it kept them, or its whole store when this node (re)joins). */
  private onStored(data: Uint8Array): void {
    let got: ReturnType<typeof decodeStored>;
    try {
      got = decodeStored(data);
    } catch (e) {
      return this.log.warn({ err: String(e) }, 'fabric: undecodable retained/history events dropped');
    }
    if (got.node === this.settings.node) return;
    const realm = this.router.realm(got.realm);
    if (!realm) return;
    for (const { e, retained, history } of got.items) realm.broker.takeStored(e, retained, history);
  }

  private direct(node: string, header: Header, wire?: unknown[]): void {
    if (this.closed || this.nc === undefined || this.nc.isClosed()) return;
    this.flushNode(node);
    this.nc.publish(nodeSubject(node), encodeFrame(header, wire ? cbor.encode(wire) : undefined));
  }

  // ---- to remote sessions (the RemoteSessions' connection) ----

  toRemote(node: string, realm: string, sid: number, out: Outgoing): void {
    const type = out.wire[0];
    if (type === MT.EVENT) {
      let b = this.events.get(node);
      if (b !== undefined && b.realm !== realm) {
        this.flushNode(node);
        b = undefined;
      }
      if (b === undefined) {
        this.events.set(node, (b = { realm, outs: [], counts: [], sids: [] }));
        if (!this.flushQueued) {
          this.flushQueued = true;
          setImmediate(() => this.flushEvents());
        }
      }
      const n = b.outs.length;
      b.sids.push(sid);
      if (n > 0 && b.outs[n - 1] === out) b.counts[n - 1]!++;
      else {
        b.outs.push(out);
        b.counts.push(1);
        if (n + 1 >= EVENTS_PER_MESSAGE) this.flushNode(node);
      }
      return;
    }
    const me = this.settings.node;
    if (type === MT.INVOCATION) return this.direct(node, { k: 'inv', r: realm, to: sid, n: me }, out.wire);
    if (type === MT.INTERRUPT) return this.direct(node, { k: 'int', r: realm, to: sid, n: me }, out.wire);
    if (type === MT.GOODBYE) return this.direct(node, { k: 'kill', r: realm, to: sid, n: me }, out.wire);
    // nothing else is ever addressed to a session the core did not hear from
  }

  private flushEvents(): void {
    this.flushQueued = false;
    for (const node of [...this.events.keys()]) this.flushNode(node);
  }

  private readonly jsonCache = new Map<string, string>();
  private jsonOf(name: string): string {
    let j = this.jsonCache.get(name);
    if (j === undefined) this.jsonCache.set(name, (j = JSON.stringify(name)));
    return j;
  }

  private readonly subjects = new Map<string, string>();
  private subjectOf(node: string): string {
    let sub = this.subjects.get(node);
    if (sub === undefined) this.subjects.set(node, (sub = nodeSubject(node)));
    return sub;
  }

  /** Sizes of the events being flushed (reused: one flush at a time). */
  private sizes: number[] = [];

  private flushNode(node: string): void {
    const b = this.events.get(node);
    if (b === undefined) return;
    this.events.delete(node);
    if (this.closed || this.nc === undefined || this.nc.isClosed()) return;
    if (Math.min(this.wireFormat, this.peerFormat.get(node) ?? 1) < 2) return this.flushLegacy(node, b);
    // the events of one pass to one node in one message (several past MESSAGE_BYTES), each with its
    // recipients there (said once for a run of events to the same sessions); an EVENT whose payload
    // came as CBOR is written straight into the message (its head by the CBOR lane, its payload copied)
    const { outs, counts, sids } = b;
    const sizes = this.sizes;
    const encoded: (Buffer | undefined)[] = [];
    for (let i = 0; i < outs.length; i++) {
      const wire = outs[i]!.wire;
      let size = cbor.encodedSize!(wire);
      if (size < 0) {
        try {
          const e = outs[i]!.encode(cbor);
          encoded[i] = e;
          size = e.length;
        } catch (err) {
          this.log.warn({ node, err: String(err) }, 'fabric: an event not representable in CBOR is not sent to that node');
          size = -1; // skipped below
        }
      }
      sizes[i] = size;
    }
    const subject = this.subjectOf(node);
    const header = `{"k":"evb","r":${this.jsonOf(b.realm)},"n":${this.jsonOf(this.settings.node)}}`;
    let from = 0; // first recipient of outs[i] in sids
    for (let i = 0; i < outs.length; ) {
      // how many events fit in this message (at least one); recipients counted in full (an upper bound)
      let bytes = 0;
      let j = i;
      while (j < outs.length) {
        const add = sizes[j]! < 0 ? 0 : EventBatchWriter.entrySize(counts[j]!, sizes[j]!);
        if (j > i && bytes + add > MESSAGE_BYTES) break;
        bytes += add;
        j++;
      }
      const w = new EventBatchWriter(header, bytes);
      for (; i < j; i++) {
        const count = counts[i]!;
        if (sizes[i]! < 0) {
          from += count;
          continue;
        }
        const at = w.add(sids, from, count, w.sameAsBefore(sids, from, count), sizes[i]!);
        const e = encoded[i];
        if (e !== undefined) w.out.set(e, at);
        else cbor.encodeInto!(outs[i]!.wire, w.out, at);
        from += count;
      }
      this.nc.publish(subject, w.out.subarray(0, w.length));
    }
  }

  /** The earlier release's event batch (format 1): a JSON header with each event's recipients and length. */
  private flushLegacy(node: string, b: EventBatch): void {
    const bodies: Buffer[] = [];
    const to: (number[] | 0)[] = [];
    let from = 0;
    let prev = '';
    for (let i = 0; i < b.outs.length; i++) {
      const sids = b.sids.slice(from, from + b.counts[i]!);
      from += b.counts[i]!;
      try {
        bodies.push(b.outs[i]!.encode(cbor));
      } catch (err) {
        this.log.warn({ node, err: String(err) }, 'fabric: an event not representable in CBOR is not sent to that node');
        continue;
      }
      const key = sids.join(',');
      to.push(key === prev ? 0 : sids);
      prev = key;
    }
    if (bodies.length === 0) return;
    this.nc!.publish(this.subjectOf(node), encodeFrameParts({ k: 'evs', r: b.realm, n: this.settings.node, to, l: bodies.map((x) => x.length) }, bodies));
  }

  // ---- inbound ----

  private onState(m: NatsMsg): void {
    let msg: { k: string; n: string; e: string; q: number; op?: Op; f?: number };
    try {
      msg = JSON.parse(Buffer.from(m.data).toString('utf8')) as typeof msg;
    } catch {
      return this.log.warn('fabric: undecodable state message dropped');
    }
    if (msg.n === this.settings.node || typeof msg.n !== 'string') return;
    this.peerFormat.set(msg.n, typeof msg.f === 'number' ? msg.f : 1);
    const now = Date.now();
    const v = msg.k === 'd' ? this.tracker.delta(msg.n, msg.e, msg.q, now) : this.tracker.heartbeat(msg.n, msg.e, msg.q, now);
    if (v === 'ignore') return;
    if (v === 'reset') this.dropNode(msg.n, 'restarted');
    if (v === 'apply') {
      if (!this.applyRemote(msg.n, msg.op!)) this.resync(msg.n);
      return;
    }
    if (msg.k === 'd') {
      let buf = this.buffers.get(msg.n);
      if (!buf) this.buffers.set(msg.n, (buf = []));
      buf.push({ seq: msg.q, op: msg.op! });
    }
    if (v === 'resync' || v === 'reset') this.resync(msg.n);
  }

  private resync(node: string): void {
    if (this.syncing.has(node) || this.closed || this.nc === undefined) return;
    this.syncing.add(node);
    this.nc.request(nodeSubject(node), encodeFrame({ k: 'snap', from: this.settings.node, f: this.wireFormat }), { timeout: Math.max(500, this.settings.deadAfterMs / 2) }).then(
      (reply) => {
        this.syncing.delete(node);
        const snap = JSON.parse(Buffer.from(reply.data).toString('utf8')) as { e: string; q: number; state: StateJson };
        this.applySnapshot(node, snap);
      },
      (e: unknown) => {
        this.syncing.delete(node);
        this.log.debug({ node, err: String(e) }, 'fabric: snapshot request failed (asked again)');
      },
    );
  }

  private applySnapshot(node: string, snap: { e: string; q: number; state: StateJson }): void {
    if (this.closed || !this.tracker.synced(node, snap.e, snap.q)) return;
    this.counters.snapshots++;
    const next = stateFromJson(snap.state);
    if (!this.replicas.has(node)) this.replicas.set(node, new Map());
    const ops = diffStates(this.replicas.get(node)!, next);
    for (const op of ops) this.applyRemote(node, op);
    const buf = (this.buffers.get(node) ?? []).sort((a, b) => a.seq - b.seq);
    this.buffers.delete(node);
    const now = Date.now();
    for (const { seq, op } of buf) {
      const v = this.tracker.next(node, seq, now);
      if (v === 'apply' && !this.applyRemote(node, op)) return this.resync(node);
      if (v === 'resync') return this.resync(node);
    }
    this.log.info({ node, sessions: [...next.values()].reduce((n, m) => n + m.size, 0) }, 'fabric: node in sync');
  }

  /** A peer's delta into its replica and this node's realm. False: it does not fit the replica. */
  private applyRemote(node: string, op: Op): boolean {
    let replica = this.replicas.get(node);
    if (!replica) this.replicas.set(node, (replica = new Map()));
    if (!applyOp(replica, op)) return false;
    const realm = this.router.realm(op.r);
    if (!realm) return true; // a realm this node does not serve: kept in the replica only
    let proxies = this.proxies.get(node);
    if (!proxies) this.proxies.set(node, (proxies = new Map()));
    if (op.o === 'join') {
      if (realm.sessions.has(op.s.sid) || !realm.roles.has(op.s.authrole)) {
        this.log.warn({ node, session: op.s.sid, authrole: op.s.authrole }, 'fabric: remote session not taken (ID in use here, or a role this node lacks)');
        return true;
      }
      const p = new RemoteSession(this.router, this, node, realm, op.s);
      proxies.set(op.s.sid, p);
      realm.join(p);
      return true;
    }
    const p = proxies.get(op.sid);
    if (!p) return true;
    switch (op.o) {
      case 'leave':
        proxies.delete(op.sid);
        realm.leave(p);
        p.state = 'closed';
        this.dropRelaysOfCaller(node, op.sid);
        break;
      case 'sub':
        realm.broker.attach(p, op.uri, op.match);
        break;
      case 'unsub':
        realm.broker.detach(p, op.uri, op.match);
        break;
      case 'reg': {
        const known = realm.dealer.lookupExact(op.uri, op.match);
        const clash = known !== undefined && (known.invoke === 'single' || known.invoke !== op.invoke) && known.callees.some((c) => !(c instanceof RemoteSession));
        realm.dealer.attach(p, op.uri, op.match, op.invoke);
        // both sides of a healed partition registered the URI: the claim decides who keeps it
        if (clash) this.reconcile(realm, op.uri, op.match);
        break;
      }
      case 'unreg':
        realm.dealer.detach(p, op.uri, op.match);
        break;
    }
    return true;
  }

  /**
   * A registration that this node's callee and another node's callee both hold against its policy
   * (made on both sides of a partition): the holder of the claim keeps it; a local callee that does
   * not hold it gets UNREGISTERED (reason procedure_already_exists), which other nodes learn as a delta.
   * Without claims (no JetStream) the lower node name keeps it. Looked at again (each second, then every
   * 5 s) for as long as the clash lasts: right after a heal JetStream may be electing the bucket's leader
   * again and answer 503 for several seconds, and a server may still take itself for the leader.
   */
  private reconcile(realm: Realm, uri: string, match: 'exact' | 'prefix' | 'wildcard'): void {
    const key = `${realm.name}\0${keyOf(match, uri)}`;
    if (this.settling.has(key)) return;
    this.settling.add(key);
    const look = (attempt: number): void => {
      if (this.closed || !this.clashing(realm, uri, match)) {
        this.settling.delete(key);
        return;
      }
      const again = () => setTimeout(() => look(attempt + 1), attempt < 15 ? 1000 : 5000).unref();
      this.ownsClaim(realm, uri, match).then(
        (mine) => {
          if (mine) return again();
          const reg = realm.dealer.lookupExact(uri, match);
          for (const c of [...(reg?.callees ?? [])]) {
            if (c instanceof RemoteSession) continue;
            this.log.warn({ procedure: uri, session: c.id }, 'fabric: registration held by another node after a partition; revoked here');
            realm.dealer.revoke(c, reg!, E.procedureAlreadyExists);
          }
          again();
        },
        (e: unknown) => {
          if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: String(e), procedure: uri, attempt }, 'fabric: cannot read the claim of a clashing registration yet; asking again');
          again();
        },
      );
    };
    look(1);
  }

  /** Whether this node (this run) holds the URI's claim; without claims, whether it is the lowest node name holding it. */
  private async ownsClaim(realm: Realm, uri: string, match: 'exact' | 'prefix' | 'wildcard'): Promise<boolean> {
    if (this.claims) {
      const o = await this.claims.owner(uri, match);
      return o !== undefined && o.node === this.settings.node && o.epoch === this.epoch;
    }
    const reg = realm.dealer.lookupExact(uri, match);
    const nodes = (reg?.callees ?? []).map((c) => (c instanceof RemoteSession ? c.node : this.settings.node)).sort();
    return nodes[0] === this.settings.node;
  }

  /** A local and a remote callee share a registration against its policy (single, or another invoke policy). */
  private clashing(realm: Realm, uri: string, match: 'exact' | 'prefix' | 'wildcard'): boolean {
    const reg = realm.dealer.lookupExact(uri, match);
    if (!reg || !reg.callees.some((c) => !(c instanceof RemoteSession))) return false;
    const remote = reg.callees.filter((c): c is RemoteSession => c instanceof RemoteSession);
    if (remote.length === 0) return false;
    if (reg.invoke === 'single') return true;
    return remote.some((c) => this.replicas.get(c.node)?.get(realm.name)?.get(c.id)?.regs.get(keyOf(match, uri))?.invoke !== reg.invoke);
  }

  private onDirect(m: NatsMsg): void {
    let f: { header: Header; body: Buffer };
    try {
      // an event batch is used up in this call: its body is not copied out of the message
      f = decodeFrame(m.data, !isEventBatch(m.data));
    } catch (e) {
      return this.log.warn({ err: String(e) }, 'fabric: undecodable message dropped');
    }
    const h = f.header;
    if (h.k === 'snap') {
      m.respond(Buffer.from(JSON.stringify({ e: this.epoch, q: this.seq, state: stateToJson(this.local) }), 'utf8'));
      // and what this node keeps of retained events and history (the asking node takes what is newer
      // or missing there): a node joining late, restarted or healed gets them
      if (typeof h.from === 'string' && h.from !== this.settings.node && typeof h.f === 'number' && h.f >= 2 && this.wireFormat >= 2) {
        for (const realm of this.router.allRealms()) this.sendStored(nodeSubject(h.from), realm.name, realm.broker.storedEvents());
      }
      return;
    }
    if (h.k === 'sto') return this.onStored(m.data);
    const realm = typeof h.r === 'string' ? this.router.realm(h.r) : undefined;
    if (!realm || typeof h.n !== 'string') return;
    if (h.k === 'evb' || h.k === 'evs') {
      if (!this.tracker.inSync(h.n) || this.syncing.has(h.n)) return;
      if (h.k === 'evb') this.deliverEvents(realm, f.body);
      else this.deliverLegacyEvents(realm, h.to as (number[] | 0)[], h.l as number[], f.body);
      return;
    }

    let wire: unknown[];
    try {
      wire = cbor.decodeMessage(f.body) as unknown[];
    } catch (e) {
      return this.log.warn({ err: String(e) }, 'fabric: undecodable WAMP message dropped');
    }
    // only from a node in sync: after a partition heals, what the routes still held from before (events,
    // calls) arrives ahead of the snapshot and is dropped (a call's caller was answered when the node died)
    if (!this.tracker.inSync(h.n) || this.syncing.has(h.n)) {
      if (h.k === 'inv') this.direct(h.n, { k: 'ans', r: realm.name, callee: h.to, n: this.settings.node }, [MT.ERROR, MT.INVOCATION, wire[1] as number, {}, E.canceled, ['callee node not in sync']]);
      return;
    }
    try {
      switch (h.k) {
        case 'inv':
          return this.invoke(realm, h.to as number, h.n, wire);
        case 'int':
          return this.interrupt(realm, h.to as number, h.n, wire);
        case 'ans':
          return this.answered(realm, h.callee as number, wire);
        case 'kill': {
          const s = realm.sessions.get(h.to as number);
          if (s && !(s instanceof RemoteSession)) s.goodbye(wire[2] as string, (wire[1] as Dict | undefined)?.message as string | undefined);
          return;
        }
      }
    } catch (e) {
      this.log.warn({ err: String(e), kind: h.k }, 'fabric: message not handled');
    }
  }

  /**
   * A batch of events, each to its local recipients: a CBOR subscriber gets the EVENT's bytes as they
   * came (the sending node encoded them: the subscription ID is the same on every node); the values are
   * decoded only for a subscriber of another serializer, and an EVENT not shaped like one is decoded
   * (and checked) before anything is sent.
   */
  private deliverEvents(realm: Realm, body: Buffer): void {
    try {
      readEventBatch(body, (to, start, end) => {
        let out: Outgoing;
        if (looksLikeEvent(body, start, end)) {
          out = Outgoing.encoded(cbor, body.subarray(start, end), decodeCbor);
        } else {
          let wire: unknown;
          try {
            wire = cbor.decodeMessage(body.subarray(start, end));
          } catch (e) {
            return this.log.warn({ err: String(e) }, 'fabric: undecodable event dropped');
          }
          if (!Array.isArray(wire) || wire[0] !== MT.EVENT) return this.log.warn('fabric: a message other than an EVENT in an event batch dropped');
          out = new Outgoing(wire);
        }
        for (const sid of to) {
          const s = realm.sessions.get(sid);
          if (s !== undefined && !(s instanceof RemoteSession)) s.sendOut(out);
        }
      });
    } catch (e) {
      this.log.warn({ err: String(e) }, 'fabric: malformed event batch (the rest dropped)');
    }
  }

  /** An event batch of the earlier release (format 1): each event decoded, sent to its local recipients. */
  private deliverLegacyEvents(realm: Realm, to: (number[] | 0)[], lengths: number[], body: Buffer): void {
    if (!Array.isArray(to) || !Array.isArray(lengths) || to.length !== lengths.length) return this.log.warn('fabric: malformed event batch dropped');
    let at = 0;
    let recipients: number[] = [];
    for (let i = 0; i < lengths.length; i++) {
      const end = at + lengths[i]!;
      const r = to[i];
      if (Array.isArray(r)) recipients = r;
      let wire: unknown;
      try {
        wire = cbor.decodeMessage(body.subarray(at, end));
      } catch (e) {
        this.log.warn({ err: String(e) }, 'fabric: undecodable event dropped');
        at = end;
        continue;
      }
      at = end;
      if (!Array.isArray(wire) || wire[0] !== MT.EVENT) continue;
      const out = new Outgoing(wire);
      for (const sid of recipients) {
        const s = realm.sessions.get(sid);
        if (s !== undefined && !(s instanceof RemoteSession)) s.sendOut(out);
      }
    }
  }

  /** An INVOCATION for a local callee from a caller on `from`: relayed in the callee's own ID scope. */
  private invoke(realm: Realm, to: number, from: string, wire: unknown[]): void {
    const invA = wire[1] as number;
    const callee = realm.sessions.get(to);
    const key = `${from}\u0000${to}\u0000${invA}`;
    if (!callee || callee instanceof RemoteSession || callee.state !== 'open') {
      // the callee left meanwhile: the caller's node answers its caller at once
      return this.direct(from, { k: 'ans', r: realm.name, callee: to, n: this.settings.node }, [MT.ERROR, MT.INVOCATION, invA, {}, E.canceled, ['callee left']]);
    }
    const invocation = callee.invocationIds.take();
    const remote: RemoteCaller = {
      answer: (_p, m, final) => {
        if (final) this.relays.delete(key);
        this.direct(from, { k: 'ans', r: realm.name, callee: to, n: this.settings.node }, answerWire(m, invA));
      },
    };
    // receiveProgress: the caller's node decides what its caller gets
    const p: Pending = { invocation, callee, caller: undefined, callerRequest: invA, receiveProgress: true, remote };
    callee.invocations.set(invocation, p);
    this.relays.set(key, p);
    const local = wire.slice();
    local[1] = invocation;
    callee.send(local);
  }

  private interrupt(realm: Realm, to: number, from: string, wire: unknown[]): void {
    const key = `${from}\u0000${to}\u0000${wire[1] as number}`;
    const p = this.relays.get(key);
    if (!p || p.callee.invocations.get(p.invocation) !== p) return;
    const opts = (wire[2] ?? {}) as Dict;
    p.callee.send([MT.INTERRUPT, p.invocation, opts]);
    if (opts.mode !== 'kill') {
      // killnowait or a timeout: the caller's node has answered already; a late YIELD is dropped here
      this.relays.delete(key);
      p.callee.invocations.delete(p.invocation);
    }
    void realm;
  }

  /** A remote callee's YIELD or ERROR for a call made here. */
  private answered(realm: Realm, callee: number, wire: unknown[]): void {
    const s = realm.sessions.get(callee);
    if (!(s instanceof RemoteSession)) return;
    const m = parseMessage(wire);
    if (m.type === MT.YIELD) realm.dealer.yield(s, m);
    else if (m.type === MT.ERROR) realm.dealer.calleeError(s, m);
  }

  /** A local callee leaves: the calls it served for other nodes fail there now. */
  private answerRelaysOf(s: Session): void {
    if (s.invocations.size === 0) return;
    for (const [key, p] of this.relays) {
      if (p.callee !== s) continue;
      this.relays.delete(key);
      s.invocations.delete(p.invocation);
      const [from] = key.split('\u0000');
      this.direct(from!, { k: 'ans', r: s.realm!.name, callee: s.id, n: this.settings.node }, [MT.ERROR, MT.INVOCATION, p.callerRequest, {}, E.canceled, ['callee left']]);
    }
  }

  /** A caller of another node left (or its node died): its calls to local callees are interrupted. */
  private dropRelaysOfCaller(node: string, _sid: number | undefined): void {
    if (_sid !== undefined) return; // the caller's node interrupts its own calls (INTERRUPT killnowait)
    const prefix = `${node}\u0000`;
    for (const [key, p] of this.relays) {
      if (!key.startsWith(prefix)) continue;
      this.relays.delete(key);
      if (p.callee.invocations.get(p.invocation) !== p) continue;
      p.callee.invocations.delete(p.invocation);
      if (p.callee.supportsCancel) p.callee.send([MT.INTERRUPT, p.invocation, { mode: 'killnowait', reason: E.canceled }]);
    }
  }

  // ---- peers' death ----

  private expire(): void {
    for (const node of this.tracker.expire(Date.now())) this.dropNode(node, `unheard for ${this.settings.deadAfterMs} ms`);
  }

  /** Everything of `node` leaves this node's realms (on_leave for each session, its calls fail). */
  private dropNode(node: string, why: string): void {
    this.tracker.forget(node);
    this.buffers.delete(node);
    const replica = this.replicas.get(node);
    this.replicas.delete(node);
    const proxies = this.proxies.get(node);
    this.proxies.delete(node);
    this.dropRelaysOfCaller(node, undefined);
    let n = 0;
    this.dropping = node;
    try {
      for (const p of proxies?.values() ?? []) {
        p.realm!.leave(p);
        p.state = 'closed';
        n++;
      }
    } finally {
      this.dropping = undefined;
    }
    if (replica !== undefined || n > 0) {
      this.counters.nodesDropped++;
      this.log.warn({ node, sessions: n, why }, 'fabric: node dropped');
    }
  }
}

interface EventBatch {
  realm: string;
  outs: Outgoing[];
  counts: number[];
  sids: number[];
}

const EVS = Buffer.from('{"k":"evb"', 'utf8');
const decodeCbor = (b: Buffer): unknown[] => cbor.decodeMessage(b) as unknown[];

/** Whether a fabric message is a binary event batch (its header starts `{"k":"evb"`, as flushNode writes it), without parsing it. */
function isEventBatch(data: Uint8Array): boolean {
  if (data.length < 4 + EVS.length) return false;
  for (let i = 0; i < EVS.length; i++) if (data[4 + i] !== EVS[i]) return false;
  return true;
}

/**
 * Whether body[start, end) starts as the CBOR lane writes an EVENT: an array of 4 to 6 items, the type
 * code 36, then an unsigned integer (the subscription ID). Its end is the entry's length.
 */
function looksLikeEvent(body: Buffer, start: number, end: number): boolean {
  const a = body[start]!;
  return end - start > 4 && a >= 0x84 && a <= 0x86 && body[start + 1] === 0x18 && body[start + 2] === MT.EVENT && body[start + 3]! <= 0x1b;
}

/** A callee's YIELD or ERROR, renumbered to the caller node's invocation ID. */
function answerWire(m: Msg, invocation: number): unknown[] {
  if (m.type === MT.YIELD) return withPayload([MT.YIELD, invocation, m.options ?? {}], m);
  return withPayload([MT.ERROR, MT.INVOCATION, invocation, m.details ?? {}, m.error], m);
}
