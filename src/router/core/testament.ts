import type { RouterConfig } from '../config.js';
import { E, MT } from '../wamp/codes.js';
import { isDict, parseMessage, ProtocolViolation, type Dict, type Msg } from '../wamp/messages.js';
import { CallError, type Dealer } from './dealer.js';
import { globalId } from './ids.js';
import type { Session } from './session.js';
import { validUri } from './uri.js';

/**
 * Testaments (WAMP advanced profile, testament_meta_api): events a session leaves with the router,
 * published on its behalf when it goes. The router has no resumable sessions, so a session is detached
 * and destroyed at the same moment: whenever it leaves (GOODBYE from either side, ABORT, transport
 * lost), its 'detached' testaments are published, then its 'destroyed' ones, each once, as PUBLISHes
 * of that session (its role's permissions and disclosure rules apply), before the realm hears it left.
 */
export type TestamentScope = 'detached' | 'destroyed';
const SCOPES: readonly string[] = ['detached', 'destroyed'];
const TESTAMENT_ERROR = 'wamp.error.testament_error';

/** One session's testaments by scope, with the bytes they take (bounded by the limits). */
export class Testaments {
  readonly detached: Msg[] = [];
  readonly destroyed: Msg[] = [];
  bytes = 0;
  private readonly sizes = new Map<Msg, number>();

  get count(): number {
    return this.detached.length + this.destroyed.length;
  }

  add(scope: TestamentScope, m: Msg, size: number): void {
    this[scope].push(m);
    this.sizes.set(m, size);
    this.bytes += size;
  }

  /** Forgets one scope's testaments; returns how many there were. */
  flush(scope: TestamentScope): number {
    const list = this[scope];
    for (const m of list) this.bytes -= this.sizes.get(m) ?? 0;
    for (const m of list) this.sizes.delete(m);
    const n = list.length;
    list.length = 0;
    return n;
  }

  /** Takes every testament (detached first), leaving none: each is published at most once. */
  take(): Msg[] {
    const all = [...this.detached, ...this.destroyed];
    this.flush('detached');
    this.flush('destroyed');
    return all;
  }
}

function scopeOf(kwargs: Dict): TestamentScope {
  const scope = kwargs.scope ?? 'destroyed';
  if (typeof scope !== 'string' || !SCOPES.includes(scope)) throw new CallError(TESTAMENT_ERROR, 'scope must be destroyed or detached');
  return scope as TestamentScope;
}

/**
 * The PUBLISH a testament becomes, checked now: a valid topic outside the wamp. namespace that the
 * caller's role may publish to, options of the right types. acknowledge and exclude_me are dropped
 * (nobody is left to acknowledge to; the session is leaving).
 */
export function testamentMessage(s: Session, args: unknown[], kwargs: Dict): Msg {
  const [topic, pArgs, pKwargs] = args;
  if (typeof topic !== 'string' || !validUri(topic)) throw new CallError(E.invalidUri, `invalid topic ${String(topic)}`);
  if (topic.startsWith('wamp.')) throw new CallError(E.invalidUri, 'the wamp. namespace is reserved to the router');
  if (pArgs !== undefined && pArgs !== null && !Array.isArray(pArgs)) throw new CallError(E.invalidArgument, 'args must be a list');
  if (pKwargs !== undefined && pKwargs !== null && !isDict(pKwargs)) throw new CallError(E.invalidArgument, 'kwargs must be a dict');
  const given = kwargs.publish_options ?? {};
  if (!isDict(given)) throw new CallError(E.invalidArgument, 'publish_options must be a dict');
  const options: Dict = { ...given };
  delete options.acknowledge;
  delete options.exclude_me;
  const wire: unknown[] = [MT.PUBLISH, 1, options, topic];
  // empty args/kwargs are left out, as a client's PUBLISH would
  const a = (pArgs ?? []) as unknown[];
  const k = pKwargs && Object.keys(pKwargs).length > 0 ? pKwargs : undefined;
  if (a.length > 0 || k) wire.push(a);
  if (k) wire.push(k);
  let m: Msg;
  try {
    m = parseMessage(wire);
  } catch (e) {
    throw new CallError(E.invalidArgument, e instanceof ProtocolViolation ? e.message : 'malformed testament');
  }
  if (!s.authorize('publish', topic, m, false)) throw new CallError(E.notAuthorized, `${s.principal!.authrole} may not publish ${topic}`);
  return m;
}

/** Registers wamp.session.add_testament and wamp.session.flush_testaments on a realm's dealer. */
export function addTestamentApi(dealer: Dealer, limits: RouterConfig['limits']): void {
  dealer.internal.set('wamp.session.add_testament', (s, args, kwargs) => {
    const scope = scopeOf(kwargs);
    const m = testamentMessage(s, args, kwargs);
    const t = (s.testaments ??= new Testaments());
    const size = s.conn.serializer.encode([m.topic, m.options, m.args ?? [], m.kwargs ?? {}]).length;
    if (t.count >= limits.maxTestamentsPerSession) throw new CallError(TESTAMENT_ERROR, `at most ${limits.maxTestamentsPerSession} testaments per session`);
    if (t.bytes + size > limits.maxTestamentBytesPerSession) throw new CallError(TESTAMENT_ERROR, `testaments of a session may take at most ${limits.maxTestamentBytesPerSession} bytes`);
    t.add(scope, m, size);
    return [[globalId()]];
  });
  dealer.internal.set('wamp.session.flush_testaments', (s, _args, kwargs) => [[s.testaments?.flush(scopeOf(kwargs)) ?? 0]]);
}

/** Publishes (and forgets) a leaving session's testaments; called while it is still in its realm. */
export function publishTestaments(s: Session): void {
  const t = s.testaments;
  if (!t || t.count === 0) return;
  for (const m of t.take()) {
    try {
      s.realm!.broker.publish(s, m);
      s.log.info({ session: s.id, authid: s.principal?.authid, topic: m.topic }, 'testament published');
    } catch (e) {
      // runs from transport close handlers: never throw there
      s.log.error({ err: e, session: s.id, topic: m.topic }, 'testament not published');
    }
  }
}
