import type { Logger } from 'pino';
import type { WampListenerConfig } from '../config.js';
import { startAuth, type AuthEnv, type Principal, type Refusal } from '../auth/authenticate.js';
import { logSecurityEvent } from '../../log/security-event.js';
import { E, MT, MT_NAME } from '../wamp/codes.js';
import { parseMessage, ProtocolViolation, type Dict, type Msg } from '../wamp/messages.js';
import type { Action, RolePermissions } from './authorize.js';
import type { Subscription } from './broker.js';
import { Outgoing, type Connection } from './connection.js';
import type { Pending, Registration } from './dealer.js';
import { globalId, IdSequence } from './ids.js';
import type { Realm } from './realm.js';
import { publishTestaments, type Testaments } from './testament.js';
import { validUri } from './uri.js';
import type { RouterStats } from './stats.js';

/** What a session needs from the router (kept narrow so the session is testable). */
export interface SessionHost {
  readonly log: Logger;
  readonly config: import('../config.js').RouterConfig;
  readonly stats: RouterStats;
  realm(name: string): Realm | undefined;
  helloAllowed(listener: ListenerRuntime, source: string): boolean;
  /** The principals store and activation-code limiter, for authentication. */
  authEnv(source: string): AuthEnv;
  /** After a GOODBYE: the connection gets a fresh session, waiting for the next HELLO. */
  reopen(ended: Session): void;
}

export interface ListenerRuntime {
  name: string;
  cfg: WampListenerConfig;
  /** Set when the listener is bound to one component: everyone here is this principal. */
  component?: Principal;
  /** Realms sessions here may join (a WebSocket path's restriction); undefined: any. */
  realms?: readonly string[];
  /** Auto-ping of this listener's peers (see autoPingOf); undefined: none. */
  ping?: import('../config.js').AutoPing;
}

/** 'goodbye': the router said GOODBYE and waits for the peer's. */
type State = 'hello' | 'authenticating' | 'open' | 'goodbye' | 'closed';

export const ROUTER_ROLES = {
  broker: {
    features: {
      publisher_identification: true,
      publisher_exclusion: true,
      subscriber_blackwhite_listing: true,
      pattern_based_subscription: true,
      subscription_meta_api: true,
      event_retention: true,
      event_history: true,
      session_meta_api: true,
      payload_passthru_mode: true,
    },
  },
  dealer: {
    features: {
      caller_identification: true,
      pattern_based_registration: true,
      shared_registration: true,
      registration_meta_api: true,
      progressive_call_results: true,
      call_canceling: true,
      call_timeout: true,
      session_meta_api: true,
      payload_passthru_mode: true,
      testament_meta_api: true,
    },
  },
};

/** One WAMP session on one connection: handshake, authentication, then dispatch to broker/dealer. */
export class Session {
  readonly id = globalId();
  state: State = 'hello';
  realm: Realm | undefined;
  principal: Principal | undefined;
  perms: RolePermissions | undefined;
  supportsCancel = false;
  readonly subscriptions = new Set<Subscription>();
  readonly registrations = new Set<Registration>();
  /** Calls this session made, by its request ID. */
  readonly calls = new Map<number, Pending>();
  /** Invocations this session serves, by the invocation ID (this session's scope). */
  readonly invocations = new Map<number, Pending>();
  readonly invocationIds = new IdSequence();
  /** Publisher exclusion for this session's own publications (one predicate per session, not per PUBLISH). */
  readonly notSelf = (t: Session): boolean => t !== this;
  /** Events to publish on this session's behalf when it leaves (wamp.session.add_testament). */
  testaments: Testaments | undefined;
  private verify: ((sig: string) => Principal | Refusal | null) | undefined;
  /** The method of the challenge under way (for the failure count). */
  private authMethod = '';
  private openTimer: NodeJS.Timeout | undefined;
  /** The authid HELLO asked for (for the failure log line). */
  private helloAuthid: string | undefined;
  /** A reused connection's wait for the next HELLO (open handshake timeout), or the wait for the peer's GOODBYE. */
  private idleTimer: NodeJS.Timeout | undefined;

  /** `reused`: the connection carried a session before (ended by GOODBYE); HELLO must come within the open handshake timeout. */
  constructor(
    private readonly host: SessionHost,
    readonly conn: Connection,
    readonly listener: ListenerRuntime,
    reused = false,
  ) {
    this.openTimer = setTimeout(() => {
      if (this.state === 'hello' || this.state === 'authenticating') this.abort(E.protocolViolation, 'session open timed out');
    }, host.config.limits.sessionOpenTimeoutMs);
    this.openTimer.unref();
    if (reused) {
      this.idleTimer = setTimeout(() => {
        if (this.state !== 'hello') return;
        this.log.info({ peer: this.conn.info.peer, listener: this.listener.name }, 'no HELLO after GOODBYE; closing');
        this.conn.close();
        this.closed();
      }, host.config.limits.openHandshakeTimeoutMs);
      this.idleTimer.unref();
    }
  }

  get log(): Logger {
    return this.host.log;
  }

  send(wire: unknown[]): void {
    if (this.state !== 'closed') this.conn.send(new Outgoing(wire));
  }

  sendOut(out: Outgoing): void {
    if (this.state !== 'closed') this.conn.send(out);
  }

  sendError(requestType: number, request: number, uri: string, message?: string): void {
    this.host.stats.error(uri);
    this.send(message ? [MT.ERROR, requestType, request, {}, uri, [message]] : [MT.ERROR, requestType, request, {}, uri]);
  }

  /** Checks the role's permission; on denial answers ERROR not_authorized (if `reply`) and logs. */
  authorize(action: Action, uri: string, m: Msg, reply = true): boolean {
    if (this.perms?.allows(action, uri)) return true;
    const p = this.principal!;
    this.log.warn({ session: this.id, realm: p.realm, authid: p.authid, authrole: p.authrole, action, uri, peer: this.conn.info.peer }, 'authorization denied');
    if (reply) this.sendError(m.type, m.request!, E.notAuthorized, `${p.authrole} may not ${action} ${uri}`);
    return false;
  }

  /** Ends the session with ABORT and closes the connection. */
  abort(reason: string, message: string): void {
    if (this.state === 'closed') return;
    this.send([MT.ABORT, { message }, reason]);
    this.conn.close();
    this.closed();
  }

  protocolViolation(message: string): void {
    this.log.info({ session: this.id, peer: this.conn.info.peer, listener: this.listener.name, message }, 'protocol violation');
    this.abort(E.protocolViolation, message);
  }

  /** A decoded value from the transport. Never throws. */
  receive(raw: unknown): void {
    if (this.state === 'closed') return;
    let m: Msg;
    try {
      m = parseMessage(raw);
    } catch (e) {
      this.host.stats.messages++;
      return this.protocolViolation(e instanceof ProtocolViolation ? e.message : 'malformed message');
    }
    this.host.stats.received(m.type);
    try {
      this.dispatch(m);
    } catch (e) {
      this.log.error({ err: e, session: this.id, type: MT_NAME[m.type] }, 'error handling message');
      this.abort(E.protocolViolation, 'internal error');
    }
  }

  private dispatch(m: Msg): void {
    if (m.type === MT.ABORT) {
      // the client gives up (any state): close quietly
      this.conn.close();
      return this.closed();
    }
    if (this.state !== 'open') return this.handshake(m);
    const realm = this.realm!;
    switch (m.type) {
      case MT.SUBSCRIBE:
        return realm.broker.subscribe(this, m);
      case MT.UNSUBSCRIBE:
        return realm.broker.unsubscribe(this, m);
      case MT.PUBLISH:
        return realm.broker.publish(this, m);
      case MT.CALL:
        return realm.dealer.call(this, m);
      case MT.CANCEL:
        return realm.dealer.cancel(this, m);
      case MT.REGISTER:
        return realm.dealer.register(this, m);
      case MT.UNREGISTER:
        return realm.dealer.unregister(this, m);
      case MT.YIELD:
        return realm.dealer.yield(this, m);
      case MT.ERROR:
        if (m.requestType === MT.INVOCATION) {
          this.host.stats.error(m.error!);
          return realm.dealer.calleeError(this, m);
        }
        return this.protocolViolation(`ERROR for ${MT_NAME[m.requestType!]} is not a client message`);
      case MT.GOODBYE:
        this.send([MT.GOODBYE, {}, E.goodbyeAndOut]);
        return this.ended();
      default:
        return this.protocolViolation(`${MT_NAME[m.type]} is not allowed in an open session`);
    }
  }

  /** A message before the session is open ('hello', 'authenticating') or after the router's GOODBYE. */
  private handshake(m: Msg): void {
    if (this.state === 'hello') {
      if (m.type !== MT.HELLO) return this.protocolViolation(`expected HELLO, got ${MT_NAME[m.type]}`);
      clearTimeout(this.idleTimer);
      return this.hello(m);
    }
    if (this.state === 'goodbye') {
      // the peer's GOODBYE answers ours; anything else that crossed it is dropped
      if (m.type === MT.GOODBYE) this.ended();
      return;
    }
    if (m.type !== MT.AUTHENTICATE) return this.protocolViolation(`expected AUTHENTICATE, got ${MT_NAME[m.type]}`);
    const principal = this.verify!(m.signature!);
    this.verify = undefined;
    if (!principal) {
      this.host.stats.authFailed(this.authMethod);
      logSecurityEvent(this.log, 'auth.failed', { method: this.authMethod, authid: this.helloAuthid, peer: this.conn.info.peer, listener: this.listener.name });
      return this.abort(E.authenticationFailed, 'authentication failed');
    }
    if ('kind' in principal) return this.abort(principal.reason, principal.message);
    return this.welcome(principal);
  }

  private hello(m: Msg): void {
    const details = m.details!;
    if (!this.host.helloAllowed(this.listener, this.conn.info.source)) {
      this.log.warn({ peer: this.conn.info.peer, listener: this.listener.name }, 'HELLO rate limit hit');
      return this.abort(E.notAuthorized, 'too many sessions from this address; slow down');
    }
    const roles = details.roles as Dict | undefined;
    if (!roles || typeof roles !== 'object' || Object.keys(roles).length === 0) return this.protocolViolation('HELLO.Details.roles is required');
    const callee = roles.callee as Dict | undefined;
    this.supportsCancel = ((callee?.features as Dict | undefined)?.call_canceling as boolean | undefined) === true;
    if (this.listener.component) return this.welcome(this.listener.component);
    if (!validUri(m.realm!)) return this.abort(E.invalidUri, `invalid realm ${m.realm}`);
    if (this.listener.realms && !this.listener.realms.includes(m.realm!)) {
      this.log.info({ peer: this.conn.info.peer, listener: this.listener.name, realm: m.realm }, 'realm not served on this path');
      return this.abort(E.noSuchRealm, `no realm ${m.realm} here`);
    }
    this.helloAuthid = typeof details.authid === 'string' ? details.authid.slice(0, 255) : undefined;
    const start = startAuth(this.host.config, this.listener.cfg, m.realm!, details, this.id, this.host.authEnv(this.conn.info.source));
    if (start.kind === 'abort') {
      if (start.reason === E.noAuthMethod) {
        this.host.stats.authFailed('none');
        logSecurityEvent(this.log, 'auth.failed', { method: 'none', peer: this.conn.info.peer, listener: this.listener.name, reason: start.reason });
      } else this.log.info({ peer: this.conn.info.peer, listener: this.listener.name, reason: start.reason }, start.message);
      return this.abort(start.reason, start.message);
    }
    if (start.kind === 'welcome') return this.welcome(start.principal);
    this.state = 'authenticating';
    this.verify = start.verify;
    this.authMethod = start.method;
    this.send([MT.CHALLENGE, start.method, start.extra]);
  }

  private welcome(p: Principal): void {
    const realm = this.host.realm(p.realm);
    const perms = realm?.roles.get(p.authrole);
    if (!realm || !perms) return this.abort(E.noSuchRealm, `no realm ${p.realm} with role ${p.authrole}`);
    if (this.openTimer) clearTimeout(this.openTimer);
    this.principal = p;
    this.realm = realm;
    this.perms = perms;
    this.state = 'open';
    this.send([MT.WELCOME, this.id, { realm: p.realm, authid: p.authid, authrole: p.authrole, authmethod: p.authmethod, authprovider: p.authprovider, roles: ROUTER_ROLES, agent: 'bulwark-router' }]);
    this.log.info({ session: this.id, realm: p.realm, authid: p.authid, authrole: p.authrole, authmethod: p.authmethod, listener: this.listener.name }, 'session joined');
    realm.join(this);
  }

  /**
   * Router-initiated close: GOODBYE with `reason`; the session leaves its realm now, and the peer's
   * GOODBYE frees the connection for a new HELLO (no answer within the close handshake timeout: closed).
   */
  goodbye(reason: string, message?: string): void {
    if (this.state !== 'open') return;
    this.send([MT.GOODBYE, message ? { message } : {}, reason]);
    this.leaveRealm();
    this.state = 'goodbye';
    this.idleTimer = setTimeout(() => {
      this.conn.close();
      this.closed();
    }, this.host.config.limits.closeHandshakeTimeoutMs);
    this.idleTimer.unref();
  }

  /** GOODBYE exchanged: this session is over, the connection stays open for the next HELLO. */
  private ended(): void {
    this.closed();
    this.host.reopen(this);
  }

  /** Testaments out, then out of the realm (once, from state open). */
  private leaveRealm(): void {
    if (this.state !== 'open') return;
    publishTestaments(this);
    this.realm!.leave(this);
    this.log.info({ session: this.id, authid: this.principal?.authid }, 'session left');
  }

  /** The transport is gone (or we closed it): leave the realm, clean up. Idempotent. */
  closed(): void {
    if (this.state === 'closed') return;
    this.leaveRealm();
    this.state = 'closed';
    if (this.openTimer) clearTimeout(this.openTimer);
    clearTimeout(this.idleTimer);
  }

  /** Session details as the meta API reports them. */
  describe(): Dict {
    const p = this.principal!;
    const t = this.conn.info;
    return { session: this.id, authid: p.authid, authrole: p.authrole, authmethod: p.authmethod, authprovider: p.authprovider, transport: { type: t.type, protocol: t.protocol, peer: t.peer } };
  }
}
