import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * Principals kept outside bulwark.yaml: one versioned record per (realm, authid) in a store file on
 * every node. Everything here is pure (times are passed in as epoch milliseconds), so the CLI on the
 * operator's machine computes each change once and every node stores the same record.
 *
 * A record is the principal's whole state; a change is a new record with a higher `version`. A node
 * keeps a record only if its version is higher than the one it has, so a replayed or late change never
 * undoes a newer one (revocation leaves a record behind for the same reason).
 */
export const PRINCIPAL_METHODS = ['ticket', 'wampcra', 'cryptosign'] as const;
export type PrincipalMethod = (typeof PRINCIPAL_METHODS)[number];

const REALM = /^([^\s.#]+\.)*[^\s.#]+$/;
const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
export const AUTHID = /^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,254}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** One secret or key of a principal: a ticket's scrypt hash, a WAMP-CRA derived key, or an Ed25519 public key (hex). */
const credentialSchema = z.strictObject({
  value: z.string().min(16),
  createdAt: z.number().int().nonnegative(),
  /** After this instant the credential no longer authenticates (set on the old one by a rotation). */
  notAfter: z.number().int().nonnegative().optional(),
});
export type Credential = z.infer<typeof credentialSchema>;

export const recordSchema = z.strictObject({
  realm: z.string().regex(REALM),
  authid: z.string().regex(AUTHID),
  role: z.string().regex(NAME),
  method: z.enum(PRINCIPAL_METHODS),
  /** Higher wins; a node ignores a record whose version is not above the one it holds. */
  version: z.number().int().positive(),
  createdAt: z.number().int().nonnegative(),
  /** The principal itself stops authenticating after this instant. */
  expiresAt: z.number().int().nonnegative().optional(),
  revokedAt: z.number().int().nonnegative().optional(),
  /** Why it was ended: revoked, or rejected (an enrolment the operator turned down). */
  revokeReason: z.enum(['revoked', 'rejected']).optional(),
  /** WAMP-CRA parameters shared by all of its credentials (one salt per challenge). */
  cra: z.strictObject({ salt: z.string().min(8), iterations: z.number().int().min(1000), keylen: z.number().int().min(16).max(64) }).optional(),
  credentials: z.array(credentialSchema),
  /** An open enrolment (cryptosign): the activation code's SHA-256, valid until codeExpiresAt. */
  enrolment: z.strictObject({ id: z.string().regex(/^[0-9a-f]{16,64}$/), codeHash: z.string().regex(HEX64), codeExpiresAt: z.number().int().nonnegative() }).optional(),
});
export type PrincipalRecord = z.infer<typeof recordSchema>;

export const storeSchema = z.strictObject({ format: z.literal(1), principals: z.array(recordSchema) });
export type PrincipalStore = z.infer<typeof storeSchema>;
export const emptyStore = (): PrincipalStore => ({ format: 1, principals: [] });

/** What a router wrote when a client presented a valid activation code and proved its key. */
export const submissionSchema = z.strictObject({
  realm: z.string().regex(REALM),
  authid: z.string().regex(AUTHID),
  enrolmentId: z.string().regex(/^[0-9a-f]{16,64}$/),
  pubkey: z.string().regex(HEX64),
  at: z.number().int().nonnegative(),
  /** The client's address as the router saw it. */
  source: z.string().max(200),
});
export type Submission = z.infer<typeof submissionSchema>;

export const keyOf = (realm: string, authid: string): string => `${realm}\u0000${authid}`;

export type PrincipalState = 'active' | 'expired' | 'revoked' | 'rejected' | 'enrolling' | 'code-expired' | 'pending';

/** A principal's state at `now`; `submitted`: a router took its activation code (any node). Pure. */
export function principalState(r: PrincipalRecord, now: number, submitted = false): PrincipalState {
  if (r.revokedAt !== undefined) return r.revokeReason === 'rejected' ? 'rejected' : 'revoked';
  if (r.expiresAt !== undefined && r.expiresAt <= now) return 'expired';
  if (r.enrolment) {
    if (submitted) return 'pending';
    return r.enrolment.codeExpiresAt <= now ? 'code-expired' : 'enrolling';
  }
  return 'active';
}

/** Credentials that authenticate at `now` (no end, or an end still ahead). Pure. */
export function liveCredentials(r: PrincipalRecord, now: number): Credential[] {
  if (r.revokedAt !== undefined) return [];
  return r.credentials.filter((c) => c.notAfter === undefined || c.notAfter > now);
}

/** The version of the next change to `prev` at `now`: above the previous one even if clocks went back. Pure. */
export function nextVersion(prev: PrincipalRecord | undefined, now: number): number {
  return Math.max(now, (prev?.version ?? 0) + 1);
}

export class PrincipalError extends Error {}

export interface AddRequest {
  realm: string;
  authid: string;
  role: string;
  method: PrincipalMethod;
  /** The hash / derived key / public key of the first credential. */
  value: string;
  cra?: PrincipalRecord['cra'];
  expiresAt?: number;
}

const isLive = (r: PrincipalRecord | undefined): r is PrincipalRecord => r !== undefined && r.revokedAt === undefined;

/** A new principal (again allowed over a revoked or rejected one). Pure. */
export function planAdd(prev: PrincipalRecord | undefined, req: AddRequest, now: number): PrincipalRecord {
  if (isLive(prev)) throw new PrincipalError(`principal ${req.authid} already exists on realm ${req.realm} (${prev.method}); rotate or revoke it`);
  return {
    realm: req.realm,
    authid: req.authid,
    role: req.role,
    method: req.method,
    version: nextVersion(prev, now),
    createdAt: now,
    ...(req.expiresAt !== undefined ? { expiresAt: req.expiresAt } : {}),
    ...(req.cra ? { cra: req.cra } : {}),
    credentials: [{ value: req.value, createdAt: now }],
  };
}

/**
 * A rotation: the new credential works at once; every credential that still works keeps working until
 * `now + overlapMs` (or its own earlier end), then stops by itself; credentials already past their end are
 * dropped. Pure.
 */
export function planRotate(prev: PrincipalRecord | undefined, value: string, overlapMs: number, now: number): PrincipalRecord {
  if (!isLive(prev)) throw new PrincipalError('no such principal (or it was revoked)');
  if (prev.enrolment) throw new PrincipalError(`${prev.authid} is still enrolling: approve or reject it first`);
  if (overlapMs < 0) throw new PrincipalError('the overlap must not be negative');
  if (prev.credentials.some((c) => c.value === value)) throw new PrincipalError('the new key is the one in use');
  const end = now + overlapMs;
  const kept = liveCredentials(prev, now).map((c) => ({ ...c, notAfter: Math.min(c.notAfter ?? end, end) }));
  return { ...prev, version: nextVersion(prev, now), credentials: [...kept.filter((c) => c.notAfter > now), { value, createdAt: now }] };
}

/** Ends a principal: no credential, no enrolment; the record stays so older changes can't bring it back. Pure. */
export function planRevoke(prev: PrincipalRecord | undefined, now: number, reason: 'revoked' | 'rejected' = 'revoked'): PrincipalRecord {
  if (!isLive(prev)) throw new PrincipalError('no such principal (or it was already revoked)');
  const { enrolment: _dropped, ...rest } = prev;
  return { ...rest, version: nextVersion(prev, now), revokedAt: now, revokeReason: reason, credentials: [] };
}

export interface EnrolRequest {
  realm: string;
  authid: string;
  role: string;
  codeHash: string;
  enrolmentId: string;
  codeTtlMs: number;
  expiresAt?: number;
}

/** A cryptosign principal that waits for its key: the activation code's hash, valid for codeTtlMs. Pure. */
export function planEnrol(prev: PrincipalRecord | undefined, req: EnrolRequest, now: number): PrincipalRecord {
  if (isLive(prev) && !prev.enrolment) throw new PrincipalError(`principal ${req.authid} already exists on realm ${req.realm}; revoke it first`);
  return {
    realm: req.realm,
    authid: req.authid,
    role: req.role,
    method: 'cryptosign',
    version: nextVersion(prev, now),
    createdAt: now,
    ...(req.expiresAt !== undefined ? { expiresAt: req.expiresAt } : {}),
    credentials: [],
    enrolment: { id: req.enrolmentId, codeHash: req.codeHash, codeExpiresAt: now + req.codeTtlMs },
  };
}

/**
 * Approves an enrolment with the key a router recorded. Submissions from every node are given: they must
 * agree on one key for this enrolment, unless `pubkey` names the one to take. Pure.
 */
export function planApprove(prev: PrincipalRecord | undefined, submissions: readonly Submission[], now: number, pubkey?: string): PrincipalRecord {
  if (!isLive(prev) || !prev.enrolment) throw new PrincipalError('no enrolment waiting for approval under that name');
  const mine = submissions.filter((s) => s.realm === prev.realm && s.authid === prev.authid && s.enrolmentId === prev.enrolment!.id);
  const keys = [...new Set(mine.map((s) => s.pubkey))];
  if (keys.length === 0) throw new PrincipalError('no client has presented the activation code yet');
  let key: string;
  if (pubkey !== undefined) {
    if (!keys.includes(pubkey)) throw new PrincipalError(`no client presented key ${pubkey} for this enrolment (seen: ${keys.join(', ')})`);
    key = pubkey;
  } else if (keys.length > 1) {
    throw new PrincipalError(`the code was used with ${keys.length} different keys (${keys.join(', ')}): approve one with --pubkey, or reject`);
  } else key = keys[0]!;
  const { enrolment: _done, ...rest } = prev;
  return { ...rest, version: nextVersion(prev, now), credentials: [{ value: key, createdAt: now }] };
}

/** Keeps `rec` in the store only if it is newer than what the store has for that principal. Pure. */
export function applyRecord(store: PrincipalStore, rec: PrincipalRecord): { store: PrincipalStore; applied: boolean; had?: number } {
  const k = keyOf(rec.realm, rec.authid);
  const i = store.principals.findIndex((p) => keyOf(p.realm, p.authid) === k);
  const had = i >= 0 ? store.principals[i]!.version : undefined;
  if (had !== undefined && had >= rec.version) return { store, applied: false, had };
  const principals = [...store.principals];
  if (i >= 0) principals[i] = rec;
  else principals.push(rec);
  principals.sort((a, b) => a.realm.localeCompare(b.realm) || a.authid.localeCompare(b.authid));
  return { store: { format: 1, principals }, applied: true, ...(had !== undefined ? { had } : {}) };
}

/** The newest record of each principal across several nodes' stores. Pure. */
export function newestRecords(stores: readonly PrincipalStore[]): Map<string, PrincipalRecord> {
  const out = new Map<string, PrincipalRecord>();
  for (const s of stores) {
    for (const r of s.principals) {
      const k = keyOf(r.realm, r.authid);
      const have = out.get(k);
      if (!have || r.version > have.version) out.set(k, r);
    }
  }
  return out;
}

/** Activation codes: 20 random bytes in base32 groups (easy to type), stored as SHA-256 only. */
export function newActivationCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const b = randomBytes(20);
  let s = '';
  for (const x of b) s += alphabet[x % 32];
  return s.match(/.{1,5}/g)!.join('-');
}

/** SHA-256 hex of a code as typed (dashes, spaces and case ignored). The code carries ~100 bits, so no slow hash is needed. */
export function codeHash(code: string): string {
  return createHash('sha256').update(code.replace(/[\s-]/g, '').toUpperCase()).digest('hex');
}

/** Constant-time check of a presented code against a stored hash. */
export function codeMatches(code: string, storedHash: string): boolean {
  const got = Buffer.from(codeHash(code), 'hex');
  const want = Buffer.from(storedHash, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A new ticket: 32 random bytes, base64url. Shown once, stored as its scrypt hash. */
export const newTicket = (): string => randomBytes(32).toString('base64url');
/** A new WAMP-CRA secret (the client keeps it; we keep its derived key). */
export const newCraSecret = (): string => randomBytes(24).toString('base64url');

/** "90s", "15m", "24h", "7d" or plain seconds, in milliseconds. Pure. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) throw new PrincipalError(`"${s}" is not a duration (like 90s, 15m, 24h, 7d)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(n * unit);
}

/** An expiry given as a duration from now or an ISO date/time, as epoch ms. Pure. */
export function parseExpiry(s: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    if (Number.isNaN(t)) throw new PrincipalError(`"${s}" is not a date`);
    if (t <= now) throw new PrincipalError(`${s} is in the past`);
    return t;
  }
  return now + parseDuration(s);
}
