import type { Logger } from 'pino';
import type { RouterConfig } from '../config.js';
import { E } from '../wamp/codes.js';
import type { Connection } from './connection.js';
import { RateLimiter } from '../../util/ratelimit.js';
import { Realm } from './realm.js';
import { Session, type ListenerRuntime, type SessionHost } from './session.js';
import { RouterStats } from './stats.js';
import { addTestamentApi } from './testament.js';
import type { AuthEnv } from '../auth/authenticate.js';
import { PrincipalBook } from '../auth/principal-book.js';
import { logSecurityEvent } from '../../log/security-event.js';
import { addAdminApi } from './admin.js';

/** Close reason for sessions of a principal revoked (or changed) in the store. */
export const REVOKED = 'bulwark.close.revoked';

/** The routing core: realms, the connection cap, HELLO rate limits. Transports attach connections here. */
export class Router implements SessionHost {
  private readonly realms = new Map<string, Realm>();
  private readonly limiters = new Map<string, RateLimiter>();
  readonly sessions = new Set<Session>();
  /** Counters (connections, messages by type, errors, auth failures, slow consumers), read by metrics. */
  readonly stats = new RouterStats();
  /** Principals from the store file (config.principals.store); undefined: config principals only. */
  readonly book: PrincipalBook | undefined;
  private readonly codeLimiter: RateLimiter;

  constructor(
    readonly config: RouterConfig,
    readonly log: Logger,
  ) {
    for (const r of config.realms) {
      const realm = new Realm(r.name, r, config.limits);
      addTestamentApi(realm.dealer, config.limits);
      addAdminApi(realm, config.admin?.role, log);
      this.realms.set(r.name, realm);
    }
    const p = config.principals;
    this.codeLimiter = new RateLimiter(p.codeAttempts.perSecond, p.codeAttempts.burst);
    this.book = p.store !== undefined ? new PrincipalBook(p.store, p.enrolments) : undefined;
  }

  authEnv(source: string): AuthEnv {
    return {
      book: this.book,
      log: this.log,
      source,
      codeAttempt: (s) => this.codeLimiter.take(s),
      now: () => Date.now(),
      autoApprove: this.config.principals.autoApprove,
    };
  }

  /**
   * Re-reads the principals store (SIGHUP) and ends, at once, every open session whose store principal
   * was revoked, removed or given another role. Other sessions are untouched. A store that fails to read
   * leaves the previous one in force (thrown to the caller).
   */
  reloadPrincipals(): { principals: number; submissions: number; ended: number } {
    if (!this.book) return { principals: 0, submissions: 0, ended: 0 };
    const counts = this.book.reload();
    let ended = 0;
    for (const s of [...this.sessions]) {
      const p = s.principal;
      if (s.state !== 'open' || !p || p.authprovider !== 'store') continue;
      const rec = this.book.record(p.realm, p.authid);
      if (rec && rec.revokedAt === undefined && rec.role === p.authrole) continue;
      const why = !rec ? 'removed' : rec.revokedAt !== undefined ? (rec.revokeReason ?? 'revoked') : 'role changed';
      logSecurityEvent(this.log, 'session.killed', { session: s.id, realm: p.realm, authid: p.authid, authrole: p.authrole, why });
      s.goodbye(REVOKED, `principal ${p.authid} ${why}`);
      ended++;
    }
    return { ...counts, ended };
  }

  /** Every realm (read when metrics are scraped). */
  allRealms(): IterableIterator<Realm> {
    return this.realms.values();
  }

  realm(name: string): Realm | undefined {
    return this.realms.get(name);
  }

  /** False when the session cap is reached: the transport refuses the connection. */
  canAccept(): boolean {
    return this.sessions.size < this.config.limits.maxSessions;
  }

  helloAllowed(listener: ListenerRuntime, source: string): boolean {
    if (listener.component) return true;
    let l = this.limiters.get(listener.name);
    if (!l) {
      l = new RateLimiter(listener.cfg.helloRate.perSecond, listener.cfg.helloRate.burst);
      this.limiters.set(listener.name, l);
    }
    return l.take(source);
  }

  attach(conn: Connection, listener: ListenerRuntime): Session {
    const s = new Session(this, conn, listener);
    this.sessions.add(s);
    return s;
  }

  reopen(ended: Session): void {
    this.sessions.delete(ended);
    const next = new Session(this, ended.conn, ended.listener, true);
    this.sessions.add(next);
    ended.conn.rebind(next);
  }

  detach(s: Session): void {
    s.closed();
    this.sessions.delete(s);
  }

  /** Tells every session the router is going away. */
  shutdown(): void {
    for (const s of this.sessions) s.abort(E.systemShutdown, 'router shutting down');
    this.sessions.clear();
  }
}
