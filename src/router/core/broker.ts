import { MT, E } from '../wamp/codes.js';
import { copyPassthru, hasKeys, withPayload, type Dict, type Msg } from '../wamp/messages.js';
import { Outgoing } from './connection.js';
import { globalId, IdSequence } from './ids.js';
import { matches, validUri, type MatchPolicy } from './uri.js';
import type { Session } from './session.js';

export class Subscription {
  readonly subscribers = new Set<Session>();
  constructor(readonly id: number, readonly topic: string, readonly match: MatchPolicy) {}
}

/** Pub/sub for one realm: exact and pattern subscriptions, exclusion, black/white listing, disclosure. */
export class Broker {
  private readonly exact = new Map<string, Subscription>();
  private readonly patterns = new Map<string, Subscription>();
  private readonly byId = new Map<number, Subscription>();
  private readonly ids = new IdSequence();

  get subscriptionCount(): number {
    return this.byId.size;
  }

  subscribe(s: Session, m: Msg): void {
    const topic = m.topic!;
    const match = ((m.options?.match as MatchPolicy | undefined) ?? 'exact');
    if (!validUri(topic, match)) return s.sendError(MT.SUBSCRIBE, m.request!, E.invalidUri, `invalid topic ${topic}`);
    if (!s.authorize('subscribe', topic, m)) return;
    const key = match === 'exact' ? topic : `${match}\u0000${topic}`;
    const map = match === 'exact' ? this.exact : this.patterns;
    let sub = map.get(key);
    if (!sub) {
      sub = new Subscription(this.ids.take(), topic, match);
      map.set(key, sub);
      this.byId.set(sub.id, sub);
    }
    sub.subscribers.add(s);
    s.subscriptions.add(sub);
    s.send([MT.SUBSCRIBED, m.request, sub.id]);
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
    if (sub.subscribers.size === 0) {
      this.byId.delete(sub.id);
      if (sub.match === 'exact') this.exact.delete(sub.topic);
      else this.patterns.delete(`${sub.match}\u0000${sub.topic}`);
    }
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
    if (o.acknowledge === true) s.send([MT.PUBLISHED, m.request, pubId]);
  }

  /** Router-originated events (meta API). */
  publishInternal(topic: string, args: unknown[], kwargs?: Dict): void {
    this.deliver(topic, globalId(), {}, { type: MT.PUBLISH, args, kwargs }, undefined);
  }

  private deliver(topic: string, pubId: number, details: Dict, m: Msg, filter: ((t: Session) => boolean) | undefined): void {
    const ex = this.exact.get(topic);
    if (ex) this.send(ex, pubId, details, m, filter);
    if (this.patterns.size === 0) return;
    for (const sub of this.patterns.values()) {
      if (matches(sub.topic, sub.match, topic)) this.send(sub, pubId, { ...details, topic }, m, filter);
    }
  }

  /** One EVENT, encoded at most once per serializer, to every eligible subscriber of `sub`. */
  private send(sub: Subscription, pubId: number, d: Dict, m: Msg, filter: ((t: Session) => boolean) | undefined): void {
    let out: Outgoing | undefined;
    for (const t of sub.subscribers) {
      if (filter !== undefined && !filter(t)) continue;
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
