import type { Logger } from 'pino';
import { logSecurityEvent } from '../../log/security-event.js';
import { E } from '../wamp/codes.js';
import type { Dict } from '../wamp/messages.js';
import { CallError } from './dealer.js';
import type { Realm } from './realm.js';
import type { Session } from './session.js';
import { validUri } from './uri.js';

export const KILLED = 'wamp.close.killed';

/**
 * Session-ending meta procedures (WAMP advanced profile names) and a by-authid listing, callable only by
 * sessions whose role is `router.admin.role` (besides the usual `call` permission): public roles that may
 * call `wamp.session.` for the ordinary meta API may not end other sessions.
 *
 * wamp.session.kill(session_id) · wamp.session.kill_by_authid(authid) → [ids] ·
 * wamp.session.kill_by_authrole(authrole) → [ids] · wamp.session.list_by_authid(authid) → [ids].
 * Kwargs `reason` (a URI, default wamp.close.killed) and `message` go into the GOODBYE; the caller's own
 * session is never ended.
 */
export function addAdminApi(realm: Realm, adminRole: string | undefined, log: Logger): void {
  const admin = (caller: Session, what: string): void => {
    if (adminRole !== undefined && caller.principal?.authrole === adminRole) return;
    log.warn({ event: 'admin.denied', session: caller.id, authid: caller.principal?.authid, authrole: caller.principal?.authrole, procedure: what }, 'admin.denied');
    throw new CallError(E.notAuthorized, `${what} is for the router's admin role only`);
  };
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v.length === 0) throw new CallError(E.invalidArgument, `${what} must be a non-empty string`);
    return v;
  };
  const kill = (caller: Session, targets: Session[], kwargs: Dict): number[] => {
    const reason = kwargs.reason === undefined ? KILLED : str(kwargs.reason, 'reason');
    if (!validUri(reason)) throw new CallError(E.invalidUri, `invalid reason ${reason}`);
    const message = typeof kwargs.message === 'string' ? kwargs.message.slice(0, 1000) : undefined;
    const ids: number[] = [];
    for (const t of targets) {
      if (t === caller) continue;
      logSecurityEvent(log, 'session.killed', { session: t.id, realm: realm.name, authid: t.principal?.authid, authrole: t.principal?.authrole, by: caller.principal?.authid, reason });
      t.goodbye(reason, message);
      ids.push(t.id);
    }
    return ids;
  };
  const where = (pred: (s: Session) => boolean) => [...realm.sessions.values()].filter(pred);

  realm.dealer.internal.set('wamp.session.kill', (caller, args, kwargs) => {
    admin(caller, 'wamp.session.kill');
    const target = typeof args[0] === 'number' ? realm.sessions.get(args[0]) : undefined;
    if (!target) throw new CallError(E.noSuchSession, 'no such session');
    if (target === caller) throw new CallError(E.invalidArgument, 'a session cannot kill itself (say GOODBYE)');
    kill(caller, [target], kwargs);
    return [[]];
  });
  realm.dealer.internal.set('wamp.session.kill_by_authid', (caller, args, kwargs) => {
    admin(caller, 'wamp.session.kill_by_authid');
    const authid = str(args[0], 'authid');
    return [
      [
        kill(
          caller,
          where((s) => s.principal?.authid === authid),
          kwargs,
        ),
      ],
    ];
  });
  realm.dealer.internal.set('wamp.session.kill_by_authrole', (caller, args, kwargs) => {
    admin(caller, 'wamp.session.kill_by_authrole');
    const role = str(args[0], 'authrole');
    return [
      [
        kill(
          caller,
          where((s) => s.principal?.authrole === role),
          kwargs,
        ),
      ],
    ];
  });
  realm.dealer.internal.set('wamp.session.list_by_authid', (caller, args) => {
    admin(caller, 'wamp.session.list_by_authid');
    const authid = str(args[0], 'authid');
    return [[where((s) => s.principal?.authid === authid).map((s) => s.id)]];
  });
}
