/*
 * The pure part of the fabric: what one node knows of another node's sessions, subscriptions and
 * registrations (its replica), the deltas that change it, the difference between two states (applied
 * when a snapshot replaces a replica), and the per-peer sequence tracking that decides whether a delta
 * is applied, ignored or means a snapshot is needed. No I/O here.
 */

export type Match = 'exact' | 'prefix' | 'wildcard';
export type Invoke = 'single' | 'roundrobin' | 'random' | 'first' | 'last';

export interface SessionInfo {
  sid: number;
  authid: string;
  authrole: string;
  authmethod: string;
  authprovider: string;
  transport: { type: string; protocol: string; peer: string };
  /** The session's callee announced call_canceling (INTERRUPT may be sent). */
  cancel: boolean;
}

export type Op =
  | { o: 'join'; r: string; s: SessionInfo }
  | { o: 'leave'; r: string; sid: number }
  | { o: 'sub'; r: string; sid: number; uri: string; match: Match }
  | { o: 'unsub'; r: string; sid: number; uri: string; match: Match }
  | { o: 'reg'; r: string; sid: number; uri: string; match: Match; invoke: Invoke }
  | { o: 'unreg'; r: string; sid: number; uri: string; match: Match };

export interface SessionState {
  info: SessionInfo;
  /** key `match\0uri` */
  subs: Map<string, { uri: string; match: Match }>;
  regs: Map<string, { uri: string; match: Match; invoke: Invoke }>;
}

/** One node's sessions by realm, then by session ID. */
export type NodeState = Map<string, Map<number, SessionState>>;

export const keyOf = (match: string, uri: string): string => `${match}\u0000${uri}`;

/** Applies a delta; returns false when it does not fit (unknown session, duplicate join): the caller resyncs. */
export function applyOp(state: NodeState, op: Op): boolean {
  let realm = state.get(op.r);
  if (op.o === 'join') {
    if (!realm) state.set(op.r, (realm = new Map()));
    if (realm.has(op.s.sid)) return false;
    realm.set(op.s.sid, { info: op.s, subs: new Map(), regs: new Map() });
    return true;
  }
  const s = realm?.get(op.sid);
  if (!realm || !s) return false;
  switch (op.o) {
    case 'leave':
      realm.delete(op.sid);
      return true;
    case 'sub':
      s.subs.set(keyOf(op.match, op.uri), { uri: op.uri, match: op.match });
      return true;
    case 'unsub':
      return s.subs.delete(keyOf(op.match, op.uri));
    case 'reg':
      s.regs.set(keyOf(op.match, op.uri), { uri: op.uri, match: op.match, invoke: op.invoke });
      return true;
    case 'unreg':
      return s.regs.delete(keyOf(op.match, op.uri));
  }
}

/** The deltas that turn `from` into `to` (leaves first, then joins, then per-session changes). */
export function diffStates(from: NodeState, to: NodeState): Op[] {
  const out: Op[] = [];
  for (const [r, sessions] of from) {
    const next = to.get(r);
    for (const sid of sessions.keys()) if (!next?.has(sid)) out.push({ o: 'leave', r, sid });
  }
  for (const [r, sessions] of to) {
    const prev = from.get(r);
    for (const [sid, s] of sessions) {
      const old = prev?.get(sid);
      if (!old) out.push({ o: 'join', r, s: s.info });
      for (const [k, x] of old?.subs ?? []) if (!s.subs.has(k)) out.push({ o: 'unsub', r, sid, uri: x.uri, match: x.match });
      for (const [k, x] of old?.regs ?? []) if (!s.regs.has(k)) out.push({ o: 'unreg', r, sid, uri: x.uri, match: x.match });
      for (const [k, x] of s.subs) if (!old?.subs.has(k)) out.push({ o: 'sub', r, sid, uri: x.uri, match: x.match });
      for (const [k, x] of s.regs) if (!old?.regs.has(k)) out.push({ o: 'reg', r, sid, uri: x.uri, match: x.match, invoke: x.invoke });
    }
  }
  return out;
}

/** A NodeState as plain JSON (a snapshot on the wire) and back. */
export type StateJson = { r: string; sessions: { info: SessionInfo; subs: { uri: string; match: Match }[]; regs: { uri: string; match: Match; invoke: Invoke }[] }[] }[];

export function stateToJson(state: NodeState): StateJson {
  return [...state].map(([r, m]) => ({ r, sessions: [...m.values()].map((s) => ({ info: s.info, subs: [...s.subs.values()], regs: [...s.regs.values()] })) }));
}

export function stateFromJson(j: StateJson): NodeState {
  const state: NodeState = new Map();
  for (const { r, sessions } of j) {
    const m = new Map<number, SessionState>();
    for (const s of sessions) {
      m.set(s.info.sid, {
        info: s.info,
        subs: new Map(s.subs.map((x) => [keyOf(x.match, x.uri), x])),
        regs: new Map(s.regs.map((x) => [keyOf(x.match, x.uri), x])),
      });
    }
    state.set(r, m);
  }
  return state;
}

/** What to do with a message from a peer. */
export type Verdict = 'apply' | 'ignore' | 'buffer' | 'resync';

interface Peer {
  epoch: string;
  /** Last sequence applied (-1: none yet). */
  seq: number;
  heard: number;
  /** A snapshot is asked for (since when); deltas wait in the caller's buffer meanwhile. */
  syncingSince: number | undefined;
}

/**
 * Sequence tracking of every peer. Each node numbers its deltas 1, 2, ... within an epoch (a random
 * name per process start) and says its last number in each heartbeat. A delta that is the next one is
 * applied; an older one ignored; a gap, an unknown node or a new epoch asks for a snapshot (the caller
 * drops the old replica on `reset`). A peer unheard for `deadAfterMs` is dead: forgotten, so whatever it
 * says later starts over with a snapshot.
 */
export class PeerTracker {
  private readonly peers = new Map<string, Peer>();
  constructor(
    private readonly deadAfterMs: number,
    /** How long a snapshot request may stay unanswered before it is asked again. */
    private readonly resyncRetryMs = 1000,
  ) {}

  known(node: string): boolean {
    return this.peers.has(node);
  }

  nodes(): string[] {
    return [...this.peers.keys()];
  }

  /** Known, and not waiting for a snapshot. */
  inSync(node: string): boolean {
    const p = this.peers.get(node);
    return p !== undefined && p.syncingSince === undefined;
  }

  /** The last sequence applied of `node` (-1: none; undefined: unknown node). */
  applied(node: string): number | undefined {
    return this.peers.get(node)?.seq;
  }

  /** `reset`: the node restarted (new epoch): drop its replica before the snapshot. */
  delta(node: string, epoch: string, seq: number, now: number): Verdict | 'reset' {
    const p = this.peers.get(node);
    if (!p || p.epoch !== epoch) return this.restart(node, epoch, now, p !== undefined);
    p.heard = now;
    if (p.syncingSince !== undefined) return 'buffer';
    if (seq <= p.seq) return 'ignore';
    if (seq === p.seq + 1) {
      p.seq = seq;
      return 'apply';
    }
    p.syncingSince = now;
    return 'resync';
  }

  heartbeat(node: string, epoch: string, seq: number, now: number): Verdict | 'reset' {
    const p = this.peers.get(node);
    if (!p || p.epoch !== epoch) return this.restart(node, epoch, now, p !== undefined);
    p.heard = now;
    if (p.syncingSince !== undefined) {
      if (now - p.syncingSince < this.resyncRetryMs) return 'ignore';
      p.syncingSince = now;
      return 'resync';
    }
    if (seq > p.seq) {
      p.syncingSince = now;
      return 'resync';
    }
    return 'ignore';
  }

  private restart(node: string, epoch: string, now: number, wasKnown: boolean): 'resync' | 'reset' {
    this.peers.set(node, { epoch, seq: -1, heard: now, syncingSince: now });
    return wasKnown ? 'reset' : 'resync';
  }

  /** A snapshot at `seq` was applied: deltas after it apply from now on. False: stale (other epoch). */
  synced(node: string, epoch: string, seq: number): boolean {
    const p = this.peers.get(node);
    if (!p || p.epoch !== epoch) return false;
    p.seq = seq;
    p.syncingSince = undefined;
    return true;
  }

  /** After a snapshot: whether a buffered delta is the next one (and takes it). */
  next(node: string, seq: number, now: number): Verdict {
    const p = this.peers.get(node);
    if (!p) return 'ignore';
    if (seq <= p.seq) return 'ignore';
    if (seq === p.seq + 1) {
      p.seq = seq;
      return 'apply';
    }
    p.syncingSince = now;
    return 'resync';
  }

  /** Peers unheard for deadAfterMs at `now`: forgotten and returned. */
  expire(now: number): string[] {
    const dead: string[] = [];
    for (const [node, p] of this.peers) {
      if (now - p.heard > this.deadAfterMs) {
        this.peers.delete(node);
        dead.push(node);
      }
    }
    return dead;
  }

  forget(node: string): void {
    this.peers.delete(node);
  }
}
