import { createHmac, randomBytes } from 'node:crypto';
import type { AuthMethod, RouterConfig, WampListenerConfig } from '../config.js';
import type { Dict } from '../wamp/messages.js';
import { verifyTicket } from './ticket.js';
import { verifyCra } from './wampcra.js';
import { verifyCryptosign } from './cryptosign.js';

export interface Principal {
  realm: string;
  authid: string;
  authrole: string;
  authmethod: string;
  authprovider: string;
}

export type AuthStart =
  | { kind: 'welcome'; principal: Principal }
  | { kind: 'challenge'; method: AuthMethod; extra: Dict; verify(signature: string): Principal | null }
  | { kind: 'abort'; reason: string; message: string };

/** Per-process secret for decoy challenges, so unknown authids look like known ones. */
const DECOY = randomBytes(32);

/**
 * Picks the first method the client offers that the listener allows and answers: WELCOME at once
 * (anonymous), a CHALLENGE with its verifier (ticket, wampcra, cryptosign), or ABORT. Unknown
 * principals still get a challenge (that then fails), so the outcome does not reveal which authids exist.
 */
export function startAuth(cfg: RouterConfig, listener: WampListenerConfig, realm: string, details: Dict, sessionId: number): AuthStart {
  const offered = Array.isArray(details.authmethods) ? (details.authmethods as unknown[]).filter((m): m is string => typeof m === 'string') : ['anonymous'];
  const authid = typeof details.authid === 'string' ? details.authid : undefined;
  const authextra = (typeof details.authextra === 'object' && details.authextra !== null ? details.authextra : {}) as Dict;
  const realmCfg = cfg.realms.find((r) => r.name === realm);
  if (!realmCfg) return { kind: 'abort', reason: 'wamp.error.no_such_realm', message: `no realm ${realm}` };

  for (const method of offered) {
    if (!(listener.auth as string[]).includes(method)) continue;
    switch (method) {
      case 'anonymous': {
        const anon = cfg.auth.anonymous;
        if (!anon) continue;
        if (anon.realms && !anon.realms.includes(realm)) continue;
        if (!realmCfg.roles.some((r) => r.name === anon.role)) continue;
        return {
          kind: 'welcome',
          principal: { realm, authid: `anonymous-${randomBytes(6).toString('hex')}`, authrole: anon.role, authmethod: 'anonymous', authprovider: 'static' },
        };
      }
      case 'ticket': {
        if (authid === undefined) continue;
        const p = cfg.auth.ticket.find((t) => t.realm === realm && t.authid === authid);
        return {
          kind: 'challenge',
          method: 'ticket',
          extra: {},
          verify: (sig) => {
            // hash even for unknown authids so timing does not tell them apart
            const ok = verifyTicket(sig, p?.hash ?? DECOY_TICKET);
            return ok && p ? { realm, authid, authrole: p.role, authmethod: 'ticket', authprovider: 'static' } : null;
          },
        };
      }
      case 'wampcra': {
        if (authid === undefined) continue;
        const p = cfg.auth.wampcra.find((t) => t.realm === realm && t.authid === authid);
        const challenge = JSON.stringify({
          authid,
          authrole: p?.role ?? 'user',
          authmethod: 'wampcra',
          authprovider: 'static',
          nonce: randomBytes(16).toString('base64'),
          timestamp: new Date().toISOString(),
          session: sessionId,
        });
        const salt = p?.salt ?? createHmac('sha256', DECOY).update(authid).digest('base64').slice(0, 16);
        const extra: Dict = { challenge, salt, keylen: p?.keylen ?? 32, iterations: p?.iterations ?? 1000 };
        return {
          kind: 'challenge',
          method: 'wampcra',
          extra,
          verify: (sig) => {
            const key = p?.derivedKey ?? DECOY.toString('base64');
            return verifyCra(key, challenge, sig) && p ? { realm, authid, authrole: p.role, authmethod: 'wampcra', authprovider: 'static' } : null;
          },
        };
      }
      case 'cryptosign': {
        const pubkey = typeof authextra.pubkey === 'string' ? authextra.pubkey.toLowerCase() : undefined;
        if (pubkey === undefined) continue;
        const p = cfg.auth.cryptosign.find((t) => t.realm === realm && t.pubkeys.includes(pubkey) && (authid === undefined || t.authid === authid));
        const challenge = randomBytes(32).toString('hex');
        return {
          kind: 'challenge',
          method: 'cryptosign',
          extra: { challenge, channel_binding: null },
          verify: (sig) =>
            p && verifyCryptosign(pubkey, challenge, sig) ? { realm, authid: p.authid, authrole: p.role, authmethod: 'cryptosign', authprovider: 'static' } : null,
        };
      }
      default:
        continue;
    }
  }
  return { kind: 'abort', reason: 'wamp.error.no_auth_method', message: 'no acceptable authentication method' };
}

const DECOY_TICKET = `scrypt$16384$8$1$${DECOY.subarray(0, 16).toString('base64')}$${DECOY.toString('base64')}`;
