import type { Logger } from 'pino';
import type { RouterConfig } from '../config.js';
import { E } from '../wamp/codes.js';
import type { Connection } from './connection.js';
import { RateLimiter } from '../../util/ratelimit.js';
import { Realm } from './realm.js';
import { Session, type ListenerRuntime, type SessionHost } from './session.js';
import { RouterStats } from './stats.js';
import { addTestamentApi } from './testament.js';

/** The routing core: realms, the connection cap, HELLO rate limits. Transports attach connections here. */
export class Router implements SessionHost {
  private readonly realms = new Map<string, Realm>();
  private readonly limiters = new Map<string, RateLimiter>();
  readonly sessions = new Set<Session>();
  /** Counters (connections, messages by type, errors, auth failures, slow consumers), read by metrics. */
  readonly stats = new RouterStats();

  constructor(readonly config: RouterConfig, readonly log: Logger) {
    for (const r of config.realms) {
      const realm = new Realm(r.name, r, config.limits);
      addTestamentApi(realm.dealer, config.limits);
      this.realms.set(r.name, realm);
    }
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
