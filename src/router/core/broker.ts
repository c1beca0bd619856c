import { MT, E } from '../wamp/codes.js';
import { copyPassthru, hasKeys, withPayload, type Dict, type Msg } from '../wamp/messages.js';
import { Outgoing } from './connection.js';
import { globalId, IdSequence } from './ids.js';
import { matches, validUri, type MatchPolicy } from './uri.js';
import type { Session } from './session.js';
import type { RetainedEvents } from './retention.js';
import type { EventHistory } from './history.js';
import { audienceOf, snapshot, type StoredEvent } from './stored-event.js';

export class Subscription {
  readonly subscribers = new Set<Session>();
  readonly created = Date.now();
  constructor(
    readonly id: number,
    readonly topic: string,
    readonly match: MatchPolicy,
  ) {}
}

/** Told of subscription lifecycle changes (the subscription meta API). */
export interface SubscriptionObserver {
  subscribed(s: Session, sub: Subscription, created: boolean): void;
  unsubscribed(s: Session, sub: Subscription, deleted: boolean): void;
}

/** Pub/sub for one realm: exact and pattern subscriptions, exclusion, black/white listing, disclosure. */
export class Broker {
  private readonly exact = new Map<string, Subscription>();
  private readonly patterns = new Map<string, Subscription>();
  private readonly byId = new Map<number, Subscription>();
  private readonly ids = new IdSequence();
  observer: SubscriptionObserver | undefined;
  /** Event retention and history of the realm (history only set when topics are configured). */
  retained: RetainedEvents | undefined;
  history: EventHistory | undefined;
  /**
   * Set by the cluster fabric: a subscription's ID from its topic and policy (the same on every node);
   * undefined: sequential. And who hears router-originated (meta) events: each node tells its own sessions.
   */
  idFor: ((topic: string, match: MatchPolicy) => number) | undefined;
  internalAudience: ((t: Session) => boolean) | undefined;
  /** Set by the cluster fabric: told of each publication kept here for retention and/or history (it tells the other nodes). */
  stored: ((e: StoredEvent, retained: boolean, history: boolean) => void) | undefined;

  get subscriptionCount(): number {
    return this.byId.size;
  }

  get(id: number): Subscription | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Subscription> {
    return this.byId.values();
  }

  /** The subscription for exactly this topic/pattern and policy. */
  lookup(topic: string, match: MatchPolicy): Subscription | undefined {
    return match === 'exact' ? this.exact.get(topic) : this.patterns.get(`${match}\u0000${topic}`);
  }

  /** Every subscription an event to `topic` would reach. */
  matching(topic: string): Subscription[] {
    const out: Subscription[] = [];
    const ex = this.exact.get(topic);
    if (ex) out.push(ex);
    for (const sub of this.patterns.values()) if (matches(sub.topic, sub.match, topic)) out.push(sub);
    return out;
  }

  /** Whether an event to `topic` would reach anyone (checked before building a meta event). */
  hasSubscribers(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    if (this.patterns.size === 0) return false;
    for (const sub of this.patterns.values()) if (matches(sub.topic, sub.match, topic)) return true;
    return false;
  }

  subscribe(s: Session, m: Msg): void {
    const topic = m.topic!;
    const match = (m.options?.match as MatchPolicy | undefined) ?? 'exact';
    if (!validUri(topic, match)) return s.sendError(MT.SUBSCRIBE, m.request!, E.invalidUri, `invalid topic ${topic}`);
    if (!s.authorize('subscribe', topic, m)) return;
    const sub = this.insert(s, topic, match);
    const { created, added } = this.last;
    s.send([MT.SUBSCRIBED, m.request, sub.id]);
    if (m.options?.get_retained === true && this.retained?.enabled === true) this.sendRetained(s, sub);
    if (added) this.observer?.subscribed(s, sub, created);
  }

  /** What the last insert did (read right after it). */
  private readonly last = { created: false, added: false };

  private insert(s: Session, topic: string, match: MatchPolicy): Subscription {
    const key = match === 'exact' ? topic : `${match}\u0000${topic}`;
    const map = match === 'exact' ? this.exact : this.patterns;
    let sub = map.get(key);
    this.last.created = sub === undefined;
    if (!sub) {
      sub = new Subscription(this.idFor ? this.idFor(topic, match) : this.ids.take(), topic, match);
      map.set(key, sub);
      this.byId.set(sub.id, sub);
    }
    this.last.added = !sub.subscribers.has(s);
    sub.subscribers.add(s);
    s.subscriptions.add(sub);
    return sub;
  }

  /** A session of another node subscribed (the fabric's replica; no SUBSCRIBED, no checks: its node made them). */
  attach(s: Session, topic: string, match: MatchPolicy): Subscription {
    const sub = this.insert(s, topic, match);
    if (this.last.added) this.observer?.subscribed(s, sub, this.last.created);
    return sub;
  }

  /** A session of another node unsubscribed (the fabric's replica). */
  detach(s: Session, topic: string, match: MatchPolicy): void {
    const sub = this.lookup(topic, match);
    if (sub?.subscribers.has(s)) this.drop(s, sub);
  }

  /** Right after SUBSCRIBED: the retained event of each topic the subscription covers that `s` may receive. */
  private sendRetained(s: Session, sub: Subscription): void {
    const r = this.retained!;
    const topics = sub.match === 'exact' ? [sub.topic] : [...r.topicNames()].filter((t) => matches(sub.topic, sub.match, t));
    for (const topic of topics) {
      if (sub.match !== 'exact' && !s.perms!.allows('subscribe', topic)) continue;
      const e = r.latestFor(topic, s);
      if (!e) continue;
      const d: Dict = { ...e.details, retained: true };
      if (sub.match !== 'exact') d.topic = topic;
      s.send(withPayload([MT.EVENT, sub.id, e.publication, d], e.payload));
    }
  }

  unsubscribe(s: Session, m: Msg): void {
    const sub = this.byId.get(m.subscription!);
    if (!sub || !sub.subscribers.has(s)) return s.sendError(MT.UNSUBSCRIBE, m.request!, E.noSuchSubscription);
    this.drop(s, sub);
    s.send([MT.UNSUBSCRIBED, m.request]);
  }

  private drop(s: Session, sub: Subscription): void {
    sub.subscribers.delete(s);
    s.subscriptions.delete(sub);
    const deleted = sub.subscribers.size === 0;
    if (deleted) {
      this.byId.delete(sub.id);
      if (sub.match === 'exact') this.exact.delete(sub.topic);
      else this.patterns.delete(`${sub.match}\u0000${sub.topic}`);
    }
    this.observer?.unsubscribed(s, sub, deleted);
  }

  removeSession(s: Session): void {
    for (const sub of [...s.subscriptions]) this.drop(s, sub);
  }

  publish(s: Session, m: Msg): void {
    const topic = m.topic!;
    const o = m.options ?? {};
    // a topic with an exact subscription passed the same URI check when it was subscribed
    if (!this.exact.has(topic) && !validUri(topic)) return this.nack(s, m, E.invalidUri, `invalid topic ${topic}`);
    if (topic.startsWith('wamp.')) return this.nack(s, m, E.invalidUri, 'the wamp. namespace is reserved to the router');
    if (!s.authorize('publish', topic, m, o.acknowledge === true)) return;
    const details: Dict = {};
    if (s.perms!.discloses('publisher', topic, o.disclose_me === true)) {
      details.publisher = s.id;
      details.publisher_authid = s.principal!.authid;
      details.publisher_authrole = s.principal!.authrole;
    }
    copyPassthru(o, details);
    const pubId = globalId();
    const filter = eligibility(s, o);
    this.deliver(topic, pubId, details, m, filter);
    if (o.retain === true || this.history !== undefined) this.store(s, topic, pubId, details, m, o);
    if (o.acknowledge === true) s.send([MT.PUBLISHED, m.request, pubId]);
  }

  /** Keeps a publication for retention (retain: true) and/or the topic's history (when configured). */
  private store(s: Session, topic: string, pubId: number, details: Dict, m: Msg, o: Dict): void {
    const retain = o.retain === true && this.retained?.enabled === true;
    const history = this.history?.limitFor(topic) !== undefined;
    if (!retain && !history) return;
    const { payload, bytes } = snapshot(m);
    let timestamp = Date.now();
    // a retained event is newer than the one it replaces, also by its timestamp (the cluster's nodes
    // order retained events by timestamp; another node's clock may run a little ahead of this one's)
    const prev = retain ? this.retained!.newest(topic) : undefined;
    if (prev !== undefined && prev.timestamp >= timestamp) timestamp = prev.timestamp + 1;
    const e: StoredEvent = { topic, publication: pubId, timestamp, details: { ...details }, payload, bytes, audience: audienceOf(s, o) };
    if (retain) this.retained!.retain(e);
    if (history) this.history!.record(e);
    this.stored?.(e, retain, history);
  }

  /**
   * A publication another node kept (the cluster fabric): retained here unless this topic's retained
   * event is as new or newer (so every node keeps the same one, whatever order they hear them in), and
   * into the topic's history unless it is there already.
   */
  takeStored(e: StoredEvent, retained: boolean, history: boolean): void {
    if (retained && this.retained?.enabled === true) this.retained.offer(e);
    if (history && this.history?.limitFor(e.topic) !== undefined && !this.history.holds(e.topic, e.publication)) this.history.record(e);
  }

  /** What this node keeps (retained events, then history), for a node that (re)joins: oldest first per topic. */
  storedEvents(): { e: StoredEvent; retained: boolean; history: boolean }[] {
    const out: { e: StoredEvent; retained: boolean; history: boolean }[] = [];
    if (this.retained?.enabled === true) for (const e of this.retained.all()) out.push({ e, retained: true, history: false });
    if (this.history !== undefined) for (const e of this.history.all()) out.push({ e, retained: false, history: true });
    return out;
  }

  /** Router-originated events (meta API). */
  publishInternal(topic: string, args: unknown[], kwargs?: Dict): void {
    this.deliver(topic, globalId(), {}, { type: MT.PUBLISH, args, kwargs }, this.internalAudience);
  }

  private deliver(topic: string, pubId: number, details: Dict, m: Msg, filter: ((t: Session) => boolean) | undefined): void {
    const ex = this.exact.get(topic);
    if (ex) this.send(ex, pubId, details, m, filter);
    if (this.patterns.size === 0) return;
    for (const sub of this.patterns.values()) {
      if (matches(sub.topic, sub.match, topic)) this.send(sub, pubId, { ...details, topic }, m, filter, topic);
    }
  }

  /**
   * One EVENT, encoded at most once per serializer, to every eligible subscriber of `sub`. `topic` is set
   * for a pattern subscription: a subscriber gets only topics its role may subscribe (a broad pattern
   * such as the empty prefix never reaches what a more specific rule denies, e.g. the wamp. meta events).
   */
  private send(sub: Subscription, pubId: number, d: Dict, m: Msg, filter: ((t: Session) => boolean) | undefined, topic?: string): void {
    let out: Outgoing | undefined;
    for (const t of sub.subscribers) {
      if (filter !== undefined && !filter(t)) continue;
      if (topic !== undefined && !t.perms!.allows('subscribe', topic)) continue;
      out ??= new Outgoing(withPayload([MT.EVENT, sub.id, pubId, d], m));
      t.sendOut(out);
    }
  }

  private nack(s: Session, m: Msg, uri: string, message: string): void {
    if (m.options?.acknowledge === true) s.sendError(MT.PUBLISH, m.request!, uri, message);
  }
}

/** Publisher exclusion and subscriber black/white listing as one predicate (undefined: everyone). */
function eligibility(pub: Session, o: Dict): ((t: Session) => boolean) | undefined {
  if (!hasKeys(o)) return pub.notSelf; // no options: exclude the publisher only
  const excludeMe = o.exclude_me !== false;
  const ex = o.exclude as number[] | undefined;
  const exA = o.exclude_authid as string[] | undefined;
  const exR = o.exclude_authrole as string[] | undefined;
  const el = o.eligible as number[] | undefined;
  const elA = o.eligible_authid as string[] | undefined;
  const elR = o.eligible_authrole as string[] | undefined;
  if (!ex && !exA && !exR && !el && !elA && !elR) return excludeMe ? pub.notSelf : undefined;
  return (t) => {
    if (excludeMe && t === pub) return false;
    const p = t.principal!;
    if (ex?.includes(t.id) || exA?.includes(p.authid) || exR?.includes(p.authrole)) return false;
    if (el && !el.includes(t.id)) return false;
    if (elA && !elA.includes(p.authid)) return false;
    if (elR && !elR.includes(p.authrole)) return false;
    return true;
  };
}
