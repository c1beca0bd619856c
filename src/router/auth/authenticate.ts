import { createHmac, randomBytes } from 'node:crypto';
import type { AuthMethod, RouterConfig, WampListenerConfig } from '../config.js';
import type { Logger } from 'pino';
import { logSecurityEvent } from '../../log/security-event.js';
import { codeMatches, liveCredentials, principalState, type PrincipalRecord } from '../principals/model.js';
import type { Dict } from '../wamp/messages.js';
import type { PrincipalBook } from './principal-book.js';
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

/** A client that proved its secret but may not in: ABORT with this reason (clearer than a failed authentication). */
export interface Refusal {
  kind: 'refuse';
  reason: string;
  message: string;
}

export type AuthStart =
  | { kind: 'welcome'; principal: Principal }
  | { kind: 'challenge'; method: AuthMethod; extra: Dict; verify(signature: string): Principal | Refusal | null }
  | { kind: 'abort'; reason: string; message: string };

/** ABORT reasons of the principals store and enrolment (stable: clients may match them). */
export const PRINCIPAL_ERRORS = {
  expired: 'bulwark.error.principal_expired',
  pending: 'bulwark.error.principal_pending',
  enrolmentPending: 'bulwark.error.enrolment_pending',
  codeInvalid: 'bulwark.error.activation_code_invalid',
  codeExpired: 'bulwark.error.activation_code_expired',
  codeUsed: 'bulwark.error.activation_code_used',
  rateLimited: 'bulwark.error.activation_rate_limited',
} as const;

/** What authentication needs besides the config: the principals store and the client's address. */
export interface AuthEnv {
  book?: PrincipalBook;
  log: Logger;
  /** The client's address (rate limits, logs). */
  source: string;
  /** Takes a token from the activation-code limiter for `source`; false: over the limit. */
  codeAttempt(source: string): boolean;
  now(): number;
  /** principals.autoApprove: a valid activation code lets the client in at once. */
  autoApprove: boolean;
}

const refuse = (reason: string, message: string): Refusal => ({ kind: 'refuse', reason, message });

/** A store principal that proved its secret: in, unless it has expired. */
function storeOutcome(rec: PrincipalRecord, authid: string, method: AuthMethod, env: AuthEnv): Principal | Refusal {
  if (principalState(rec, env.now()) === 'expired') {
    logSecurityEvent(env.log, 'principal.refused', { why: 'expired', realm: rec.realm, authid, authmethod: method, peer: env.source });
    return refuse(PRINCIPAL_ERRORS.expired, `principal ${authid} has expired`);
  }
  return { realm: rec.realm, authid, authrole: rec.role, authmethod: method, authprovider: 'store' };
}

/** Per-process secret for decoy challenges, so unknown authids look like known ones. */
const DECOY = randomBytes(32);

/**
 * Picks the first method the client offers that the listener allows and answers: WELCOME at once
 * (anonymous), a CHALLENGE with its verifier (ticket, wampcra, cryptosign), or ABORT. Unknown
 * principals still get a challenge (that then fails), so the outcome does not reveal which authids exist.
 */
export function startAuth(cfg: RouterConfig, listener: WampListenerConfig, realm: string, details: Dict, sessionId: number, env?: AuthEnv): AuthStart {
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
        const rec = p ? undefined : storeRecord(env, realm, authid, 'ticket');
        return {
          kind: 'challenge',
          method: 'ticket',
          extra: {},
          verify: (sig) => {
            if (p) return verifyTicket(sig, p.hash) ? { realm, authid, authrole: p.role, authmethod: 'ticket', authprovider: 'static' } : null;
            // the record as it is now (a revoke may have come since HELLO); every live hash (two during a
            // rotation's overlap); hash even for unknown authids so timing does not tell them apart
            const now = rec ? storeRecord(env, realm, authid, 'ticket') : undefined;
            const hashes = now && env ? liveCredentials(now, env.now()).map((c) => c.value) : [];
            if (hashes.length === 0) {
              verifyTicket(sig, DECOY_TICKET);
              return null;
            }
            return hashes.some((h) => verifyTicket(sig, h)) && now && env ? storeOutcome(now, authid, 'ticket', env) : null;
          },
        };
      }
      case 'wampcra': {
        if (authid === undefined) continue;
        const p = cfg.auth.wampcra.find((t) => t.realm === realm && t.authid === authid);
        const rec = p ? undefined : storeRecord(env, realm, authid, 'wampcra');
        const params = p ?? rec?.cra;
        const challenge = JSON.stringify({
          authid,
          authrole: p?.role ?? rec?.role ?? 'user',
          authmethod: 'wampcra',
          authprovider: 'static',
          nonce: randomBytes(16).toString('base64'),
          timestamp: new Date().toISOString(),
          session: sessionId,
        });
        const salt = params?.salt ?? createHmac('sha256', DECOY).update(authid).digest('base64').slice(0, 16);
        const extra: Dict = { challenge, salt, keylen: params?.keylen ?? 32, iterations: params?.iterations ?? 1000 };
        return {
          kind: 'challenge',
          method: 'wampcra',
          extra,
          verify: (sig) => {
            if (p) return verifyCra(p.derivedKey, challenge, sig) ? { realm, authid, authrole: p.role, authmethod: 'wampcra', authprovider: 'static' } : null;
            // a rotation keeps salt and iterations, so old and new secrets answer the same challenge
            const now = rec ? storeRecord(env, realm, authid, 'wampcra') : undefined;
            const keys = now && env && now.cra?.salt === salt ? liveCredentials(now, env.now()).map((c) => c.value) : [];
            if (keys.length === 0) {
              verifyCra(DECOY.toString('base64'), challenge, sig);
              return null;
            }
            return keys.some((k) => verifyCra(k, challenge, sig)) && now && env ? storeOutcome(now, authid, 'wampcra', env) : null;
          },
        };
      }
      case 'cryptosign': {
        const pubkey = typeof authextra.pubkey === 'string' ? authextra.pubkey.toLowerCase() : undefined;
        if (pubkey === undefined) continue;
        if (authextra.activation_code !== undefined) return startEnrolment(realm, authid, pubkey, authextra.activation_code, env);
        const p = cfg.auth.cryptosign.find((t) => t.realm === realm && t.pubkeys.includes(pubkey) && (authid === undefined || t.authid === authid));
        const challenge = randomBytes(32).toString('hex');
        return {
          kind: 'challenge',
          method: 'cryptosign',
          extra: { challenge, channel_binding: null },
          verify: (sig) => {
            if (!verifyCryptosign(pubkey, challenge, sig)) return null;
            if (p) return { realm, authid: p.authid, authrole: p.role, authmethod: 'cryptosign', authprovider: 'static' };
            // looked up now, not at HELLO: a revoke may have come in between
            const found = env?.book?.byPubkey(realm, pubkey, authid, env.now());
            if (!found || !env) return null;
            if (found.how === 'live' || env.autoApprove) return storeOutcome(found.rec, found.rec.authid, 'cryptosign', env);
            logSecurityEvent(env.log, 'principal.refused', { why: 'pending', realm, authid: found.rec.authid, peer: env.source });
            return refuse(PRINCIPAL_ERRORS.pending, `principal ${found.rec.authid} awaits approval (bulwark principal approve)`);
          },
        };
      }
      default:
        continue;
    }
  }
  return { kind: 'abort', reason: 'wamp.error.no_auth_method', message: 'no acceptable authentication method' };
}

/** A live (not revoked) store record of `method` for realm/authid. */
function storeRecord(env: AuthEnv | undefined, realm: string, authid: string, method: AuthMethod): PrincipalRecord | undefined {
  const r = env?.book?.record(realm, authid);
  return r && r.method === method && r.revokedAt === undefined ? r : undefined;
}

const DECOY_CODE_HASH = createHmac('sha256', DECOY).update('activation').digest('hex');

/**
 * Cryptosign HELLO with authextra {pubkey, activation_code}: the code (compared in constant time, attempts
 * limited per source) must belong to the authid's open enrolment, be unexpired and unused on this node;
 * then the client proves the key with the usual challenge and the router records code + key in its
 * enrolment directory. The session is refused as pending (or let in with `principals.autoApprove`).
 */
function startEnrolment(realm: string, authid: string | undefined, pubkey: string, code: unknown, env: AuthEnv | undefined): AuthStart {
  const abort = (reason: string, message: string, why: string): AuthStart => {
    if (env) logSecurityEvent(env.log, reason === PRINCIPAL_ERRORS.rateLimited ? 'enrolment.rate_limited' : 'enrolment.code_refused', { why, realm, authid, peer: env.source });
    return { kind: 'abort', reason, message };
  };
  if (!env?.book) return abort(PRINCIPAL_ERRORS.codeInvalid, 'this router takes no activation codes', 'no store');
  if (!env.codeAttempt(env.source)) return abort(PRINCIPAL_ERRORS.rateLimited, 'too many activation attempts from this address; wait and try again', 'rate limited');
  if (typeof code !== 'string' || code.length > 200) return abort(PRINCIPAL_ERRORS.codeInvalid, 'activation_code must be a string', 'malformed');
  if (authid === undefined) return abort(PRINCIPAL_ERRORS.codeInvalid, 'an activation code needs the authid it was issued for', 'no authid');
  if (!/^[0-9a-f]{64}$/.test(pubkey)) return abort(PRINCIPAL_ERRORS.codeInvalid, 'pubkey must be 64 hex characters (Ed25519)', 'bad pubkey');
  const rec = env.book.record(realm, authid);
  const open = rec && rec.revokedAt === undefined ? rec.enrolment : undefined;
  const ok = codeMatches(code, open?.codeHash ?? DECOY_CODE_HASH) && open !== undefined;
  if (!ok || !rec || !open) return abort(PRINCIPAL_ERRORS.codeInvalid, 'activation code not valid for this authid', 'wrong code');
  if (open.codeExpiresAt <= env.now()) return abort(PRINCIPAL_ERRORS.codeExpired, 'activation code has expired; ask for a new one', 'expired');
  if (env.book.submissionOf(rec)) return abort(PRINCIPAL_ERRORS.codeUsed, 'activation code was already used', 'used');
  const challenge = randomBytes(32).toString('hex');
  return {
    kind: 'challenge',
    method: 'cryptosign',
    extra: { challenge, channel_binding: null },
    verify: (sig) => {
      if (!verifyCryptosign(pubkey, challenge, sig)) return null;
      const taken = env.book!.submit({ realm, authid, enrolmentId: open.id, pubkey, at: env.now(), source: env.source.slice(0, 200) });
      if (!taken) {
        logSecurityEvent(env.log, 'enrolment.code_refused', { why: 'used', realm, authid, peer: env.source });
        return refuse(PRINCIPAL_ERRORS.codeUsed, 'activation code was already used');
      }
      logSecurityEvent(env.log, 'enrolment.submitted', { realm, authid, pubkey, peer: env.source }, 'info');
      const fresh = env.book!.record(realm, authid) ?? rec;
      if (env.autoApprove) return storeOutcome(fresh, authid, 'cryptosign', env);
      return refuse(PRINCIPAL_ERRORS.enrolmentPending, `activation code accepted; ${authid} awaits approval (bulwark principal approve)`);
    },
  };
}

const DECOY_TICKET = `scrypt$16384$8$1$${DECOY.subarray(0, 16).toString('base64')}$${DECOY.toString('base64')}`;
