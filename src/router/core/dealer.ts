import { MT, E } from '../wamp/codes.js';
import { copyPassthru, argsOf, withPayload, type Dict, type Msg } from '../wamp/messages.js';
import { IdSequence } from './ids.js';
import { matches, specificity, validUri, type MatchPolicy } from './uri.js';
import type { Session } from './session.js';

export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last';

export class Registration {
  readonly callees: Session[] = [];
  rr = 0;
  readonly created = Date.now();
  constructor(
    readonly id: number,
    readonly procedure: string,
    readonly match: MatchPolicy,
    readonly invoke: InvokePolicy,
  ) {}
}

/** One call in flight: a caller's request mapped to an invocation in the callee's ID scope. */
export interface Pending {
  invocation: number;
  callee: Session;
  caller: Session | undefined;
  callerRequest: number;
  receiveProgress: boolean;
  timer?: NodeJS.Timeout;
  /** Set when the caller is on another node (the cluster fabric): the callee's YIELD/ERROR go there. */
  remote?: RemoteCaller;
}

/** Where the answers to an invocation go when its caller's node is another one (src/router/fabric/). */
export interface RemoteCaller {
  /** A YIELD or ERROR of the callee; `final`: the invocation is over here (already forgotten). */
  answer(p: Pending, m: Msg, final: boolean): void;
}

/** Told of registration lifecycle changes (the registration meta API). */
export interface RegistrationObserver {
  registered(s: Session, reg: Registration, created: boolean): void;
  unregistered(s: Session, reg: Registration, deleted: boolean): void;
}

/** A procedure the router itself implements (meta API). Returns [args, kwargs] or throws CallError. */
export type InternalProcedure = (caller: Session, args: unknown[], kwargs: Dict) => [unknown[], Dict?];
export class CallError extends Error {
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * RPC for one realm: exact and pattern registrations, shared registrations with invocation policies,
 * caller disclosure, progressive results, cancel (skip/kill/killnowait) and call timeouts.
 */
export class Dealer {
  private readonly exact = new Map<string, Registration>();
  private readonly patterns: Registration[] = [];
  private readonly byId = new Map<number, Registration>();
  private readonly ids = new IdSequence();
  readonly internal = new Map<string, InternalProcedure>();
  observer: RegistrationObserver | undefined;
  /** Set by the cluster fabric: a registration's ID from its procedure and policy (the same on every node). */
  idFor: ((procedure: string, match: MatchPolicy) => number) | undefined;
  /**
   * Set by the cluster fabric: asked before a new registration is made (cluster-wide uniqueness, invoke
   * policy). `done(undefined)`: go ahead; `done(uri, message)`: refused. Undefined: decided here at once.
   */
  claim: ((s: Session, procedure: string, match: MatchPolicy, invoke: InvokePolicy, done: (uri?: string, message?: string) => void) => void) | undefined;

  constructor(private readonly maxPendingPerCaller: number) {}

  get registrationCount(): number {
    return this.byId.size;
  }

  get(id: number): Registration | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<Registration> {
    return this.byId.values();
  }

  /** The registration for exactly this procedure/pattern and policy. */
  lookupExact(proc: string, match: MatchPolicy): Registration | undefined {
    return match === 'exact' ? this.exact.get(proc) : this.patterns.find((r) => r.procedure === proc && r.match === match);
  }

  /** The registration a call to `proc` would reach (exact, then the most specific pattern). */
  match(proc: string): Registration | undefined {
    return this.lookup(proc);
  }

  register(s: Session, m: Msg): void {
    const proc = m.procedure!;
    const o = m.options ?? {};
    const match = (o.match as MatchPolicy | undefined) ?? 'exact';
    const invoke = (o.invoke as InvokePolicy | undefined) ?? 'single';
    if (!validUri(proc, match)) return s.sendError(MT.REGISTER, m.request!, E.invalidUri, `invalid procedure ${proc}`);
    if (proc.startsWith('wamp.')) return s.sendError(MT.REGISTER, m.request!, E.invalidUri, 'the wamp. namespace is reserved to the router');
    if (!s.authorize('register', proc, m)) return;
    const reg = this.lookupExact(proc, match);
    if (reg && (reg.invoke === 'single' || invoke !== reg.invoke || reg.callees.includes(s))) {
      return s.sendError(MT.REGISTER, m.request!, E.procedureAlreadyExists, `${proc} is already registered`);
    }
    if (this.claim === undefined) return this.add(s, m.request!, proc, match, invoke);
    this.claim(s, proc, match, invoke, (uri, message) => {
      if (s.state !== 'open') return;
      if (uri !== undefined) return s.sendError(MT.REGISTER, m.request!, uri, message);
      // the checks again: another local REGISTER may have won while the claim was asked
      const now = this.lookupExact(proc, match);
      if (now && (now.invoke === 'single' || invoke !== now.invoke || now.callees.includes(s))) {
        return s.sendError(MT.REGISTER, m.request!, E.procedureAlreadyExists, `${proc} is already registered`);
      }
      this.add(s, m.request!, proc, match, invoke);
    });
  }

  private add(s: Session, request: number, proc: string, match: MatchPolicy, invoke: InvokePolicy): void {
    const reg = this.insert(s, proc, match, invoke);
    s.send([MT.REGISTERED, request, reg.id]);
    this.observer?.registered(s, reg, this.created);
  }

  /** Whether the last insert made the registration. */
  private created = false;

  private insert(s: Session, proc: string, match: MatchPolicy, invoke: InvokePolicy): Registration {
    let reg = this.lookupExact(proc, match);
    this.created = reg === undefined;
    if (!reg) {
      reg = new Registration(this.idFor ? this.idFor(proc, match) : this.ids.take(), proc, match, invoke);
      if (match === 'exact') this.exact.set(proc, reg);
      else {
        this.patterns.push(reg);
        this.patterns.sort((a, b) => specificity(b.procedure, b.match) - specificity(a.procedure, a.match));
      }
      this.byId.set(reg.id, reg);
    }
    reg.callees.push(s);
    s.registrations.add(reg);
    return reg;
  }

  /** A session of another node registered (the fabric's replica; its node made the checks and the claim). */
  attach(s: Session, proc: string, match: MatchPolicy, invoke: InvokePolicy): Registration {
    const known = this.lookupExact(proc, match);
    if (known?.callees.includes(s)) return known;
    const reg = this.insert(s, proc, match, invoke);
    this.observer?.registered(s, reg, this.created);
    return reg;
  }

  /**
   * The router takes a registration away from a local callee (the cluster gave the URI to another node's
   * callee after a partition): UNREGISTERED with request 0 and details {registration, reason}.
   */
  revoke(s: Session, reg: Registration, reason: string): void {
    if (!reg.callees.includes(s)) return;
    s.send([MT.UNREGISTERED, 0, { registration: reg.id, reason }]);
    this.drop(s, reg);
  }

  /** A session of another node unregistered (the fabric's replica). */
  detach(s: Session, proc: string, match: MatchPolicy): void {
    const reg = this.lookupExact(proc, match);
    if (reg?.callees.includes(s)) this.drop(s, reg);
  }

  unregister(s: Session, m: Msg): void {
    const reg = this.byId.get(m.registration!);
    if (!reg || !reg.callees.includes(s)) return s.sendError(MT.UNREGISTER, m.request!, E.noSuchRegistration);
    this.drop(s, reg);
    s.send([MT.UNREGISTERED, m.request]);
  }

  private drop(s: Session, reg: Registration): void {
    const i = reg.callees.indexOf(s);
    if (i >= 0) reg.callees.splice(i, 1);
    s.registrations.delete(reg);
    const deleted = reg.callees.length === 0;
    if (deleted) {
      this.byId.delete(reg.id);
      if (reg.match === 'exact') this.exact.delete(reg.procedure);
      else this.patterns.splice(this.patterns.indexOf(reg), 1);
    }
    this.observer?.unregistered(s, reg, deleted);
  }

  /** Pattern registrations (even the empty prefix) never serve the router's wamp. namespace. */
  private lookup(proc: string): Registration | undefined {
    return this.exact.get(proc) ?? (proc.startsWith('wamp.') ? undefined : this.patterns.find((r) => matches(r.procedure, r.match, proc)));
  }

  private pick(reg: Registration): Session {
    const c = reg.callees;
    switch (reg.invoke) {
      case 'roundrobin':
        return c[reg.rr++ % c.length]!;
      case 'random':
        return c[Math.floor(Math.random() * c.length)]!;
      case 'last':
        return c[c.length - 1]!;
      default:
        return c[0]!;
    }
  }

  call(s: Session, m: Msg): void {
    const proc = m.procedure!;
    const o = m.options ?? {};
    // a procedure with an exact registration passed the same URI check when it was registered
    const exact = this.exact.get(proc);
    if (exact === undefined && !validUri(proc)) return s.sendError(MT.CALL, m.request!, E.invalidUri, `invalid procedure ${proc}`);
    if (!s.authorize('call', proc, m)) return;
    if (s.calls.has(m.request!)) return s.protocolViolation(`CALL request ID ${m.request} is already in use`);
    const internal = exact === undefined ? this.internal.get(proc) : undefined;
    if (internal) {
      try {
        const given = argsOf(m);
        const [args, kwargs] = internal(s, given.args, given.kwargs);
        s.send(kwargs ? [MT.RESULT, m.request, {}, args, kwargs] : [MT.RESULT, m.request, {}, args]);
      } catch (e) {
        if (e instanceof CallError) s.sendError(MT.CALL, m.request!, e.uri, e.message);
        else s.sendError(MT.CALL, m.request!, 'wamp.error.runtime_error', 'internal error');
      }
      return;
    }
    const reg = exact ?? this.lookup(proc);
    if (!reg) return s.sendError(MT.CALL, m.request!, E.noSuchProcedure, `no callee registered for ${proc}`);
    if (s.calls.size >= this.maxPendingPerCaller) return s.sendError(MT.CALL, m.request!, E.canceled, 'too many calls in flight');
    const callee = this.pick(reg);
    // a pattern reaches only procedures its callee's role may register (a broad pattern such as the empty
    // prefix never serves what a more specific rule denies)
    if (reg.match !== 'exact' && !callee.perms!.allows('register', proc)) return s.sendError(MT.CALL, m.request!, E.noSuchProcedure, `no callee registered for ${proc}`);
    const details: Dict = {};
    if (reg.match !== 'exact') details.procedure = proc;
    const receiveProgress = o.receive_progress === true;
    if (receiveProgress) details.receive_progress = true;
    if (s.perms!.discloses('caller', proc, o.disclose_me === true)) {
      details.caller = s.id;
      details.caller_authid = s.principal!.authid;
      details.caller_authrole = s.principal!.authrole;
    }
    copyPassthru(o, details);
    const p: Pending = { invocation: callee.invocationIds.take(), callee, caller: s, callerRequest: m.request!, receiveProgress };
    const timeout = typeof o.timeout === 'number' ? o.timeout : 0;
    if (timeout > 0) {
      details.timeout = timeout;
      p.timer = setTimeout(() => this.expire(p), timeout);
      p.timer.unref();
    }
    s.calls.set(p.callerRequest, p);
    callee.invocations.set(p.invocation, p);
    callee.send(withPayload([MT.INVOCATION, p.invocation, reg.id, details], m));
  }

  /** YIELD from a callee. */
  yield(callee: Session, m: Msg): void {
    const p = callee.invocations.get(m.request!);
    if (!p) return; // canceled or timed out meanwhile: drop
    const progress = m.options?.progress === true;
    if (progress && !p.receiveProgress) return; // caller did not ask for progressive results
    if (!progress) this.finish(p);
    const caller = p.caller;
    // no caller here: the call came from another node (the fabric sends the answer there)
    if (caller === undefined) return p.remote?.answer(p, m, !progress);
    const details: Dict = progress ? { progress: true } : {};
    copyPassthru(m.options, details);
    caller.send(withPayload([MT.RESULT, p.callerRequest, details], m));
  }

  /** ERROR from a callee for an INVOCATION. */
  calleeError(callee: Session, m: Msg): void {
    const p = callee.invocations.get(m.request!);
    if (!p) return;
    this.finish(p);
    const caller = p.caller;
    if (caller === undefined) return p.remote?.answer(p, m, true);
    caller.send(withPayload([MT.ERROR, MT.CALL, p.callerRequest, m.details ?? {}, m.error], m));
  }

  cancel(s: Session, m: Msg): void {
    const p = s.calls.get(m.request!);
    if (!p) return; // already answered
    let mode = (m.options?.mode as string | undefined) ?? 'killnowait';
    if (mode !== 'skip' && !p.callee.supportsCancel) mode = 'skip';
    if (mode === 'kill') {
      p.callee.send([MT.INTERRUPT, p.invocation, { mode: 'kill', reason: E.canceled }]);
      return; // the callee's ERROR (or YIELD) answers the caller
    }
    if (mode === 'killnowait') p.callee.send([MT.INTERRUPT, p.invocation, { mode: 'killnowait', reason: E.canceled }]);
    this.finish(p);
    s.sendError(MT.CALL, p.callerRequest, E.canceled, 'call canceled');
  }

  private expire(p: Pending): void {
    if (p.callee.invocations.get(p.invocation) !== p) return;
    if (p.callee.supportsCancel) p.callee.send([MT.INTERRUPT, p.invocation, { mode: 'killnowait', reason: E.timeout }]);
    this.finish(p);
    p.caller?.sendError(MT.CALL, p.callerRequest, E.timeout, 'call timed out');
  }

  private finish(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.callee.invocations.delete(p.invocation);
    if (p.caller?.calls.get(p.callerRequest) === p) p.caller.calls.delete(p.callerRequest);
  }

  removeSession(s: Session): void {
    for (const reg of [...s.registrations]) this.drop(s, reg);
    // calls this session was serving: the callers get an error
    for (const p of [...s.invocations.values()]) {
      this.finish(p);
      p.caller?.sendError(MT.CALL, p.callerRequest, E.canceled, 'callee left');
    }
    // calls this session made: interrupt the callees, forget the answers
    for (const p of [...s.calls.values()]) {
      if (p.callee.supportsCancel) p.callee.send([MT.INTERRUPT, p.invocation, { mode: 'killnowait', reason: E.canceled }]);
      this.finish(p);
    }
  }
}
