import type { Config } from '../config/schema.js';
import { parseDuration } from './schema.js';

/** Where a node keeps its ACME state: the account key, one key per pending order, the retry state. 0700 root. */
export const ACME_STATE_DIR = '/var/lib/bulwark/acme';
/**
 * Where the agent puts HTTP-01 answers and the router's port-80 listener reads them: inside the router's
 * state directory, which the router container mounts read-only.
 */
export { CHALLENGE_DIR } from './schema.js';

/** An ACME token as RFC 8555 §8.3 makes it: base64url, at least 128 bits. Anything else is never a file name. */
export const ACME_TOKEN = /^[A-Za-z0-9_-]{22,256}$/;
export const isAcmeToken = (t: string): boolean => ACME_TOKEN.test(t);

/** One certificate a node wants: its names (own name first) and the files the router's listener reads. */
export interface WantedCertificate {
  names: string[];
  cert: string;
  key: string;
}

/** The certificate and key files of the router's TLS listeners (one entry per distinct certificate file). Pure. */
export function tlsFiles(cfg: Config): { listener: string; cert: string; key: string }[] {
  const out: { listener: string; cert: string; key: string }[] = [];
  cfg.router.listeners.forEach((l, i) => {
    if (l.type !== 'websocket' || !l.tls || out.some((o) => o.cert === l.tls?.cert)) return;
    out.push({ listener: l.fdName ?? String(i), cert: l.tls.cert, key: l.tls.key });
  });
  return out;
}

/** The certificates this node wants from its ACME CA: one per distinct TLS file pair of its websocket listeners. Pure. */
export function wantedCertificates(cfg: Config, nodeName: string): WantedCertificate[] {
  const acme = cfg.acme;
  const own = acme?.names[nodeName];
  if (!acme || own === undefined) return [];
  const names = acme.sharedName ? [own, acme.sharedName] : [own];
  const out: WantedCertificate[] = [];
  for (const l of cfg.router.listeners) {
    if (l.type !== 'websocket' || !l.tls) continue;
    if (out.some((w) => w.cert === l.tls?.cert)) continue;
    out.push({ names, cert: l.tls.cert, key: l.tls.key });
  }
  return out;
}

/** What a node's certificate says about itself (from node:crypto's X509Certificate). */
export interface CertFacts {
  /** DNS names (subjectAltName), in the certificate's order. */
  names: string[];
  /** The issuer's CN (or the whole issuer DN). */
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  selfSigned: boolean;
}

export interface RetryState {
  /** Failed attempts since the last success. */
  failures: number;
  lastError?: string;
  lastAttemptAt?: string;
  /** No attempt before this instant (backoff). */
  nextAttemptAt?: string;
  lastIssuedAt?: string;
}

const DAY_MS = 86_400_000;
export const daysLeft = (f: CertFacts, now: Date): number => Math.floor((f.notAfter.getTime() - now.getTime()) / DAY_MS);

export interface RenewalDecision {
  due: boolean;
  /** Why (for the log): "no certificate", "self-signed", "names differ", "12 days left of 90", ... */
  reason: string;
  /** When the certificate becomes due (undefined when already due). */
  dueAt?: Date;
}

/**
 * Whether to ask the CA now. A certificate is due when it is missing, self-signed, for other names, when
 * less than `renewBefore` (default: a third of its lifetime) remains, or, earlier, once the instant this node
 * picked in the CA's suggested renewal window (ARI, RFC 9773) has come. Pure.
 */
export function renewalDecision(
  wanted: readonly string[],
  current: CertFacts | undefined,
  now: Date,
  renewBefore?: string,
  /** The CA's renewal information (ARI) for this certificate: it can only make renewal earlier. */
  ari?: { start: Date; end: Date; renewAt: Date },
): RenewalDecision {
  if (!current) return { due: true, reason: 'no certificate' };
  if (current.selfSigned) return { due: true, reason: 'self-signed' };
  const have = new Set(current.names);
  if (wanted.length !== have.size || wanted.some((n) => !have.has(n))) return { due: true, reason: `names differ (have ${current.names.join(' ') || 'none'})` };
  const lifetimeMs = current.notAfter.getTime() - current.notBefore.getTime();
  const beforeMs = renewBefore !== undefined ? parseDuration(renewBefore) * 1000 : lifetimeMs / 3;
  const dueAt = new Date(current.notAfter.getTime() - beforeMs);
  const left = current.notAfter.getTime() - now.getTime();
  const fmt = (ms: number) => (ms >= DAY_MS ? `${Math.floor(ms / DAY_MS)}d` : `${Math.max(0, Math.floor(ms / 1000))}s`);
  if (now.getTime() >= dueAt.getTime()) return { due: true, reason: `${fmt(left)} left of ${fmt(lifetimeMs)}` };
  if (ari && now.getTime() >= ari.renewAt.getTime()) {
    return { due: true, reason: `the CA's renewal information suggests ${ari.start.toISOString()} to ${ari.end.toISOString()} (${fmt(left)} left of ${fmt(lifetimeMs)})` };
  }
  const at = ari && ari.renewAt.getTime() < dueAt.getTime() ? ari.renewAt : dueAt;
  return { due: false, reason: `${fmt(left)} left of ${fmt(lifetimeMs)}`, dueAt: at };
}

/** Backoff after `failures` failed attempts: 1 min, doubling, at most 6 h. Pure. */
export function backoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(60_000 * 2 ** Math.min(failures - 1, 20), 6 * 3_600_000);
}

/** The retry state after an attempt. Pure. */
export function afterAttempt(prev: RetryState, now: Date, error?: string): RetryState {
  if (error === undefined) return { failures: 0, lastAttemptAt: now.toISOString(), lastIssuedAt: now.toISOString() };
  const failures = prev.failures + 1;
  return {
    failures,
    lastError: error,
    lastAttemptAt: now.toISOString(),
    nextAttemptAt: new Date(now.getTime() + backoffMs(failures)).toISOString(),
    lastIssuedAt: prev.lastIssuedAt,
  };
}

/** True when backoff allows an attempt now. Pure. */
export const mayAttempt = (s: RetryState, now: Date): boolean => s.nextAttemptAt === undefined || now.getTime() >= Date.parse(s.nextAttemptAt);

/** One line per certificate for `bulwark status` and the log. Pure. */
export function describeCert(f: CertFacts | undefined, now: Date): string {
  if (!f) return 'certificate: none';
  return `certificate ${f.names.join(',') || '(no DNS names)'} issuer "${f.issuer}"${f.selfSigned ? ' (self-signed)' : ''}, ${daysLeft(f, now)} days left, serial ${f.serial}`;
}

/** Below this many days left a certificate fails the audit (renewal should have happened long before). */
export const AUDIT_MIN_DAYS = 14;
