import { E } from '../wamp/codes.js';
import { isDict, isId, type Dict } from '../wamp/messages.js';
import type { Broker, Subscription, SubscriptionObserver } from './broker.js';
import { CallError, type Dealer, type InternalProcedure, type Registration, type RegistrationObserver } from './dealer.js';
import type { MatchPolicy } from './uri.js';

/*
 * The subscription and registration meta API (WAMP advanced profile): procedures
 * wamp.subscription.list|lookup|match|get|list_subscribers|count_subscribers and
 * wamp.registration.list|lookup|match|get|list_callees|count_callees, and the lifecycle events
 * wamp.subscription.on_create|on_subscribe|on_unsubscribe|on_delete and
 * wamp.registration.on_create|on_register|on_unregister|on_delete. Access is the role's call/subscribe
 * permission on these URIs, as for every URI. A meta event is built only when someone subscribes to it,
 * and none is sent about subscriptions to the wamp. namespace itself (meta listeners would hear each other).
 */

export function subscriptionDetails(sub: Subscription): Dict {
  return { id: sub.id, created: new Date(sub.created).toISOString(), uri: sub.topic, match: sub.match };
}

export function registrationDetails(reg: Registration): Dict {
  return { id: reg.id, created: new Date(reg.created).toISOString(), uri: reg.procedure, match: reg.match, invoke: reg.invoke };
}

/** Publishes `topic` with `args()` only when some subscription would receive it. */
function emitter(broker: Broker): (topic: string, args: () => unknown[]) => void {
  return (topic, args) => {
    if (broker.hasSubscribers(topic)) broker.publishInternal(topic, args());
  };
}

export function subscriptionObserver(broker: Broker): SubscriptionObserver {
  const emit = emitter(broker);
  return {
    subscribed(s, sub, created) {
      if (sub.topic.startsWith('wamp.')) return;
      if (created) emit('wamp.subscription.on_create', () => [s.id, subscriptionDetails(sub)]);
      emit('wamp.subscription.on_subscribe', () => [s.id, sub.id]);
    },
    unsubscribed(s, sub, deleted) {
      if (sub.topic.startsWith('wamp.')) return;
      emit('wamp.subscription.on_unsubscribe', () => [s.id, sub.id]);
      if (deleted) emit('wamp.subscription.on_delete', () => [s.id, sub.id]);
    },
  };
}

export function registrationObserver(broker: Broker): RegistrationObserver {
  const emit = emitter(broker);
  return {
    registered(s, reg, created) {
      if (created) emit('wamp.registration.on_create', () => [s.id, registrationDetails(reg)]);
      emit('wamp.registration.on_register', () => [s.id, reg.id]);
    },
    unregistered(s, reg, deleted) {
      emit('wamp.registration.on_unregister', () => [s.id, reg.id]);
      if (deleted) emit('wamp.registration.on_delete', () => [s.id, reg.id]);
    },
  };
}

const uriArg = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new CallError(E.invalidArgument, `the first argument must be a ${what} URI`);
  return v;
};
const idArg = (v: unknown, what: string): number => {
  if (!isId(v)) throw new CallError(E.invalidArgument, `the first argument must be a ${what} ID`);
  return v;
};
const matchOpt = (v: unknown): MatchPolicy => {
  const m = isDict(v) ? v.match : undefined;
  if (m === undefined || m === null) return 'exact';
  if (m !== 'exact' && m !== 'prefix' && m !== 'wildcard') throw new CallError(E.invalidArgument, 'options.match must be exact, prefix or wildcard');
  return m;
};
const byPolicy = <T extends { id: number; match: MatchPolicy }>(items: Iterable<T>): Dict => {
  const out: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] };
  for (const x of items) out[x.match].push(x.id);
  return out;
};

export function metaProcedures(broker: Broker, dealer: Dealer): Map<string, InternalProcedure> {
  const p = new Map<string, InternalProcedure>();
  const sub = (v: unknown): Subscription => {
    const s = broker.get(idArg(v, 'subscription'));
    if (!s) throw new CallError(E.noSuchSubscription, `no subscription ${String(v)}`);
    return s;
  };
  const reg = (v: unknown): Registration => {
    const r = dealer.get(idArg(v, 'registration'));
    if (!r) throw new CallError(E.noSuchRegistration, `no registration ${String(v)}`);
    return r;
  };
  p.set('wamp.subscription.list', () => [[byPolicy(broker.all())]]);
  p.set('wamp.subscription.lookup', (_c, args) => [[broker.lookup(uriArg(args[0], 'topic'), matchOpt(args[1]))?.id ?? null]]);
  p.set('wamp.subscription.match', (_c, args) => {
    const ids = broker.matching(uriArg(args[0], 'topic')).map((s) => s.id);
    return [[ids.length > 0 ? ids : null]];
  });
  p.set('wamp.subscription.get', (_c, args) => [[subscriptionDetails(sub(args[0]))]]);
  p.set('wamp.subscription.list_subscribers', (_c, args) => [[[...sub(args[0]).subscribers].map((s) => s.id)]]);
  p.set('wamp.subscription.count_subscribers', (_c, args) => [[sub(args[0]).subscribers.size]]);
  p.set('wamp.registration.list', () => [[byPolicy(dealer.all())]]);
  p.set('wamp.registration.lookup', (_c, args) => [[dealer.lookupExact(uriArg(args[0], 'procedure'), matchOpt(args[1]))?.id ?? null]]);
  p.set('wamp.registration.match', (_c, args) => [[dealer.match(uriArg(args[0], 'procedure'))?.id ?? null]]);
  p.set('wamp.registration.get', (_c, args) => [[registrationDetails(reg(args[0]))]]);
  p.set('wamp.registration.list_callees', (_c, args) => [[reg(args[0]).callees.map((s) => s.id)]]);
  p.set('wamp.registration.count_callees', (_c, args) => [[reg(args[0]).callees.length]]);
  return p;
}
