import type { RouterConfig } from '../config.js';
import { E } from '../wamp/codes.js';
import { RolePermissions } from './authorize.js';
import { Broker } from './broker.js';
import { CallError, Dealer } from './dealer.js';
import { EventHistory, historyProcedures } from './history.js';
import { metaProcedures, registrationObserver, subscriptionObserver } from './meta-subscription.js';
import { RetainedEvents } from './retention.js';
import type { Session } from './session.js';

type RealmConfig = RouterConfig['realms'][number];

/** The cluster fabric as a realm sees it (src/router/fabric/); undefined on a one-node router. */
export interface RealmLink {
  joined(s: Session): void;
  left(s: Session): void;
}

/** A realm: its sessions, roles, broker, dealer, retention, history and the meta API. */
export class Realm {
  readonly sessions = new Map<number, Session>();
  readonly roles = new Map<string, RolePermissions>();
  readonly broker = new Broker();
  readonly dealer: Dealer;
  readonly retained: RetainedEvents;
  readonly history: EventHistory;
  /** Set when the router is one node of a cluster: told of sessions joining and leaving. */
  link: RealmLink | undefined;

  constructor(
    readonly name: string,
    cfg: RealmConfig,
    limits: RouterConfig['limits'],
  ) {
    for (const r of cfg.roles) this.roles.set(r.name, new RolePermissions(r.permissions));
    this.dealer = new Dealer(limits.maxPendingCallsPerSession);
    const filter = (args: unknown[]) => {
      const roles = args[0];
      const list = [...this.sessions.values()];
      return Array.isArray(roles) ? list.filter((s) => roles.includes(s.principal!.authrole)) : list;
    };
    this.dealer.internal.set('wamp.session.count', (_c, args) => [[filter(args).length]]);
    this.dealer.internal.set('wamp.session.list', (_c, args) => [[filter(args).map((s) => s.id)]]);
    this.dealer.internal.set('wamp.session.get', (_c, args) => {
      const s = typeof args[0] === 'number' ? this.sessions.get(args[0]) : undefined;
      if (!s) throw new CallError(E.noSuchSession, 'no such session');
      return [[s.describe()]];
    });
    for (const [uri, proc] of metaProcedures(this.broker, this.dealer)) this.dealer.internal.set(uri, proc);
    this.broker.observer = subscriptionObserver(this.broker);
    this.dealer.observer = registrationObserver(this.broker);
    this.retained = new RetainedEvents(cfg.retention);
    this.broker.retained = this.retained;
    this.history = new EventHistory(cfg.history);
    // the broker looks at history only when the realm keeps some (publish checks one field otherwise)
    if (this.history.configured) this.broker.history = this.history;
    const exactTopic = (id: number) => {
      const sub = this.broker.get(id);
      return sub?.match === 'exact' ? sub.topic : undefined;
    };
    for (const [uri, proc] of historyProcedures(this.history, exactTopic, limits.maxMessageSize / 2)) this.dealer.internal.set(uri, proc);
  }

  join(s: Session): void {
    this.sessions.set(s.id, s);
    this.link?.joined(s);
    this.broker.publishInternal('wamp.session.on_join', [s.describe()]);
  }

  leave(s: Session): void {
    if (!this.sessions.delete(s.id)) return;
    this.link?.left(s);
    this.broker.removeSession(s);
    this.dealer.removeSession(s);
    this.broker.publishInternal('wamp.session.on_leave', [s.id, s.principal!.authid, s.principal!.authrole]);
  }
}
