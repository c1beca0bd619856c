/** The files of this capability on a node: ACME account key and retry state, challenge answers, installed certificates. */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { isAcmeToken, type RetryState, type WantedCertificate } from './plan.js';
import { certFacts, leafOf } from './x509.js';
import { alpnCertFile } from '../router/acme-alpn.js';

/** Writes `data` to `path` through a temporary file and a rename, with its mode and group set before it appears. */
export function writeAtomic(path: string, data: string | Buffer, mode: number, gid?: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  if (gid !== undefined) chownSync(tmp, 0, gid);
  renameSync(tmp, path);
}

/** A directory with exactly this mode (and group, when given). */
export function ensureDir(dir: string, mode: number, gid?: number): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode });
  const st = statSync(dir);
  if ((st.mode & 0o7777) !== mode) chmodSync(dir, mode);
  if (gid !== undefined && st.gid !== gid) chownSync(dir, 0, gid);
}

/** A new P-256 private key (PKCS#8 PEM), made here and now. */
export const newPrivateKey = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** The node's ACME account key: made on first use, 0600, never leaves the node. */
export function accountKey(stateDir: string): string {
  const path = join(stateDir, 'account.key');
  if (!existsSync(path)) writeAtomic(path, newPrivateKey(), 0o600);
  else if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return readFileSync(path, 'utf8');
}

const retrySchema = z.object({
  failures: z.number().int().min(0),
  lastError: z.string().optional(),
  lastAttemptAt: z.string().optional(),
  nextAttemptAt: z.string().optional(),
  lastIssuedAt: z.string().optional(),
});

/** The retry state (backoff) of the certificate at `certPath`; a missing or unreadable file is a fresh start. */
export function readRetry(stateDir: string, certPath: string): RetryState {
  try {
    return retrySchema.parse(JSON.parse(readFileSync(retryFile(stateDir, certPath), 'utf8')));
  } catch {
    return { failures: 0 };
  }
}
export function writeRetry(stateDir: string, certPath: string, s: RetryState): void {
  writeAtomic(retryFile(stateDir, certPath), JSON.stringify(s, null, 2) + '\n', 0o600);
}
const retryFile = (stateDir: string, certPath: string) => join(stateDir, `retry-${certPath.replace(/[^A-Za-z0-9]+/g, '_')}.json`);

/** Facts of the certificate at `path`, or undefined when it is missing or unreadable. */
export function readCertFacts(path: string): ReturnType<typeof certFacts> | undefined {
  try {
    return certFacts(readFileSync(path));
  } catch {
    return undefined;
  }
}

/**
 * Checks a new chain against its key and names, then installs both for the router: key first (0640
 * root:ROUTER), then the chain (0644), each by rename, so the router never reads half a file; it reloads
 * when the certificate changes. Throws before touching anything when the chain is wrong.
 */
export function installCertificate(w: WantedCertificate, keyPem: string, chainPem: string, routerGid: number): void {
  const leaf = leafOf(chainPem);
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the CA returned a certificate for another key');
  const names = certFacts(chainPem).names;
  const missing = w.names.filter((n) => !names.includes(n));
  if (missing.length) throw new Error(`the CA returned a certificate without ${missing.join(', ')}`);
  for (const d of new Set([dirname(w.key), dirname(w.cert)])) if (!existsSync(d)) ensureDir(d, 0o750, routerGid);
  writeAtomic(w.key, keyPem, 0o640, routerGid);
  writeAtomic(w.cert, chainPem, 0o644, routerGid);
}

/** Puts an HTTP-01 answer where the router's port-80 listener serves it (0644: it is public by design). */
export function publishLocal(dir: string, token: string, keyAuthorization: string, routerGid: number): void {
  if (!isAcmeToken(token)) throw new Error('refusing an ACME token outside the base64url alphabet');
  if (!keyAuthorization.startsWith(`${token}.`)) throw new Error('key authorization does not belong to its token');
  ensureDir(dir, 0o750, routerGid);
  writeAtomic(join(dir, token), keyAuthorization, 0o644, routerGid);
}
export function unpublishLocal(dir: string, token: string): void {
  if (!isAcmeToken(token)) return;
  rmSync(join(dir, token), { force: true });
}

/**
 * Puts a TLS-ALPN-01 answer (RFC 8737) where the router's TLS listener presents it: a self-signed
 * certificate for `name` alone with the critical acmeIdentifier extension (SHA-256 of the key
 * authorization), made by acme-client on a fresh P-256 key, both in one file (0640 root:ROUTER).
 */
export async function publishAlpnLocal(dir: string, name: string, keyAuthorization: string, routerGid: number): Promise<void> {
  const file = join(dir, alpnCertFile(name));
  if (!/^[A-Za-z0-9_-]{22,256}\.[A-Za-z0-9_-]{22,100}$/.test(keyAuthorization)) throw new Error('refusing a key authorization that is not token.thumbprint');
  const { default: acme } = await import('acme-client');
  const keyPem = newPrivateKey();
  const [, cert] = await acme.crypto.createAlpnCertificate({ identifier: { type: 'dns', value: name } } as Parameters<typeof acme.crypto.createAlpnCertificate>[0], keyAuthorization, keyPem);
  ensureDir(dir, 0o750, routerGid);
  writeAtomic(file, keyPem + cert.toString(), 0o640, routerGid);
}
export function unpublishAlpnLocal(dir: string, name: string): void {
  rmSync(join(dir, alpnCertFile(name)), { force: true });
}

/** The `acme.caRoot` setting as PEM: inline as it is, or read from its path on the node. */
export function caRootPem(caRoot: string | undefined): string | undefined {
  if (caRoot === undefined) return undefined;
  return caRoot.startsWith('-----') ? caRoot : readFileSync(caRoot, 'utf8');
}

/** Removes answers older than `maxAgeMs` (an unpublish that never came); returns how many. */
export function pruneAnswers(dir: string, maxAgeMs: number, now = Date.now()): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (now - statSync(p).mtimeMs > maxAgeMs) {
      rmSync(p, { force: true });
      n++;
    }
  }
  return n;
}
