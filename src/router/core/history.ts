import type { RouterConfig } from '../config.js';
import { E, MT } from '../wamp/codes.js';
import { isId, type Dict } from '../wamp/messages.js';
import { CallError, type InternalProcedure } from './dealer.js';
import { admits, eventRecord, namesSessions, type StoredEvent } from './stored-event.js';
import type { Session } from './session.js';

export type HistoryConfig = RouterConfig['realms'][number]['history'];
export const HISTORY_UNAVAILABLE = 'wamp.error.history_unavailable';

interface Entry {
  e: StoredEvent;
  ring: Ring;
  dead: boolean;
}
interface Ring {
  topic: string;
  /** entries[start..] oldest first. */
  entries: Entry[];
  start: number;
  limit: number;
}

/**
 * Event history for one realm: for each configured topic (exact, or every topic under a prefix) a ring
 * of its last `limit` publications. Bounded by the number of rings (the topic written longest ago goes)
 * and by payload bytes (the realm's oldest events go first). Publications that name sessions
 * (exclude/eligible) are not kept: their IDs mean nothing to later readers. In memory only.
 */
export class EventHistory {
  private readonly exact = new Map<string, number>();
  private readonly prefixes: { uri: string; limit: number }[] = [];
  /** topic → ring; Map order = order of the last write (oldest first). */
  private readonly rings = new Map<string, Ring>();
  /** Every stored entry in arrival order (dead ones are skipped, and compacted away). */
  private fifo: Entry[] = [];
  private head = 0;
  private live = 0;
  private bytes = 0;

  constructor(private readonly cfg: HistoryConfig) {
    for (const t of cfg.topics) {
      if (t.match === 'exact') this.exact.set(t.uri, t.limit);
      else this.prefixes.push({ uri: t.uri, limit: t.limit });
    }
    this.prefixes.sort((a, b) => b.uri.length - a.uri.length);
  }

  /** False when no topic is configured (the broker then skips history entirely). */
  get configured(): boolean {
    return this.cfg.topics.length > 0;
  }

  get size(): { topics: number; events: number; bytes: number } {
    return { topics: this.rings.size, events: this.live, bytes: this.bytes };
  }

  /** The ring size configured for `topic`, or undefined (no history): exact entry first, then the longest prefix. */
  limitFor(topic: string): number | undefined {
    return this.exact.get(topic) ?? this.prefixes.find((p) => topic.startsWith(p.uri))?.limit;
  }

  record(e: StoredEvent): void {
    const limit = this.limitFor(e.topic);
    if (limit === undefined || namesSessions(e.audience) || e.bytes > this.cfg.maxBytes) return;
    let ring = this.rings.get(e.topic);
    if (ring)
      this.rings.delete(e.topic); // re-inserted: most recently written last
    else {
      if (this.rings.size >= this.cfg.maxTopics) this.dropRing(this.rings.values().next().value as Ring);
      ring = { topic: e.topic, entries: [], start: 0, limit };
    }
    this.rings.set(e.topic, ring);
    const entry: Entry = { e, ring, dead: false };
    ring.entries.push(entry);
    this.fifo.push(entry);
    this.live++;
    this.bytes += e.bytes;
    if (ring.entries.length - ring.start > ring.limit) this.kill(this.shift(ring));
    while (this.bytes > this.cfg.maxBytes) this.dropOldest();
    if (this.head > 1024 && this.head > this.fifo.length / 2) this.compact();
    else if (this.fifo.length - this.head > 2 * this.live + 1024) this.compact();
  }

  private shift(ring: Ring): Entry {
    const x = ring.entries[ring.start]!;
    ring.entries[ring.start++] = undefined as unknown as Entry; // release it; compacted below
    if (ring.start > 64 && ring.start > ring.entries.length / 2) {
      ring.entries = ring.entries.slice(ring.start);
      ring.start = 0;
    }
    return x;
  }

  private kill(x: Entry): void {
    x.dead = true;
    this.live--;
    this.bytes -= x.e.bytes;
  }

  private dropOldest(): void {
    while (this.fifo[this.head]!.dead) this.head++;
    const x = this.fifo[this.head++]!;
    // the realm's oldest live entry is also the oldest of its ring
    this.kill(this.shift(x.ring));
    if (x.ring.entries.length === x.ring.start) this.rings.delete(x.ring.topic);
  }

  private dropRing(ring: Ring): void {
    for (let i = ring.start; i < ring.entries.length; i++) this.kill(ring.entries[i]!);
    this.rings.delete(ring.topic);
  }

  private compact(): void {
    this.fifo = this.fifo.slice(this.head).filter((x) => !x.dead);
    this.head = 0;
  }

  /** The topic's events `t` may read, newest first (at most `limit`, and only those `keep` accepts). */
  read(topic: string, t: Session, keep: (e: StoredEvent) => boolean, limit = Infinity): StoredEvent[] {
    const ring = this.rings.get(topic);
    const out: StoredEvent[] = [];
    if (!ring) return out;
    for (let i = ring.entries.length - 1; i >= ring.start && out.length < limit; i--) {
      const e = ring.entries[i]!.e;
      if (!keep(e)) break;
      if (admits(e.audience, t, true)) out.push(e);
    }
    return out;
  }

  /** Every kept event, oldest first. */
  *all(): IterableIterator<StoredEvent> {
    for (let i = this.head; i < this.fifo.length; i++) if (!this.fifo[i]!.dead) yield this.fifo[i]!.e;
  }

  /** Whether the ring of `topic` holds publication `id`. */
  holds(topic: string, id: number): boolean {
    const ring = this.rings.get(topic);
    if (!ring) return false;
    for (let i = ring.start; i < ring.entries.length; i++) if (ring.entries[i]!.e.publication === id) return true;
    return false;
  }
}

/** ISO-8601 timestamp to milliseconds; also takes the spec's `hh:mm:ss:SSSZ` (a colon before the milliseconds). */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v.replace(/(T\d{2}:\d{2}:\d{2}):(\d{3})/, '$1.$2'));
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * wamp.topic.history.last ([topic, limit]), .since ([topic, timestamp]) and .after ([topic, publication]),
 * and crossbar's wamp.subscription.get_events ([subscription, limit = 10]): lists of event records, newest
 * first (crossbar's order). The caller also needs subscribe permission on the topic; a topic without
 * configured history answers wamp.error.history_unavailable. A result holds at most `maxResultBytes` of
 * payload (a message over the peer's maximum would cost it its connection): past it, the newest events
 * that fit and kwargs {truncated: true}.
 */
export function historyProcedures(history: EventHistory, topicOfSubscription: (id: number) => string | undefined, maxResultBytes: number): Map<string, InternalProcedure> {
  const topicArg = (caller: Session, v: unknown): string => {
    if (typeof v !== 'string' || v.length === 0) throw new CallError(E.invalidArgument, 'the first argument must be a topic URI');
    if (!caller.authorize('subscribe', v, { type: MT.CALL }, false)) throw new CallError(E.notAuthorized, `${caller.principal!.authrole} may not subscribe ${v}`);
    if (history.limitFor(v) === undefined) throw new CallError(HISTORY_UNAVAILABLE, `no event history is kept for ${v}`);
    return v;
  };
  const limitArg = (v: unknown, dflt?: number): number => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new CallError(E.invalidArgument, 'limit must be a positive integer');
    return v;
  };
  const result = (events: StoredEvent[]): [unknown[], Dict?] => {
    let bytes = 0;
    let n = 0;
    // each record: its payload, topic and about 120 bytes of keys, timestamp and IDs
    while (n < events.length && (bytes += events[n]!.bytes + events[n]!.topic.length + 120) <= maxResultBytes) n++;
    return n < events.length ? [[events.slice(0, n).map(eventRecord)], { truncated: true }] : [[events.map(eventRecord)]];
  };
  const all = () => true;
  const procs = new Map<string, InternalProcedure>();
  procs.set('wamp.topic.history.last', (caller, args) => {
    const topic = topicArg(caller, args[0]);
    return result(history.read(topic, caller, all, limitArg(args[1])));
  });
  procs.set('wamp.topic.history.since', (caller, args) => {
    const topic = topicArg(caller, args[0]);
    const since = parseTimestamp(args[1]);
    if (since === undefined) throw new CallError(E.invalidArgument, 'the second argument must be an ISO-8601 timestamp');
    return result(history.read(topic, caller, (e) => e.timestamp >= since));
  });
  procs.set('wamp.topic.history.after', (caller, args) => {
    const topic = topicArg(caller, args[0]);
    const id = args[1];
    if (!isId(id)) throw new CallError(E.invalidArgument, 'the second argument must be a publication ID');
    if (!history.holds(topic, id)) throw new CallError(HISTORY_UNAVAILABLE, `publication ${id} is not in the history of ${topic}`);
    return result(history.read(topic, caller, (e) => e.publication !== id));
  });
  procs.set('wamp.subscription.get_events', (caller, args) => {
    const id = args[0];
    const topic = isId(id) ? topicOfSubscription(id) : undefined;
    if (topic === undefined) throw new CallError(E.noSuchSubscription, `no subscription ${String(id)} (or not an exact one)`);
    return result(history.read(topicArg(caller, topic), caller, all, limitArg(args[1], 10)));
  });
  return procs;
}
