import type { RouterConfig } from '../config.js';
import { E } from '../wamp/codes.js';
import { RolePermissions } from './authorize.js';
import { Broker } from './broker.js';
import { CallError, Dealer } from './dealer.js';
import type { Session } from './session.js';

type RealmConfig = RouterConfig['realms'][number];

/** A realm: its sessions, roles, broker, dealer and the session meta API. */
export class Realm {
  readonly sessions = new Map<number, Session>();
  readonly roles = new Map<string, RolePermissions>();
  readonly broker = new Broker();
  readonly dealer: Dealer;

  constructor(readonly name: string, cfg: RealmConfig, limits: RouterConfig['limits']) {
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
  }

  join(s: Session): void {
    this.sessions.set(s.id, s);
    this.broker.publishInternal('wamp.session.on_join', [s.describe()]);
  }

  leave(s: Session): void {
    if (!this.sessions.delete(s.id)) return;
    this.broker.removeSession(s);
    this.dealer.removeSession(s);
    this.broker.publishInternal('wamp.session.on_leave', [s.id, s.principal!.authid, s.principal!.authrole]);
  }
}
