import { X509Certificate } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { writeFileAtomic } from '../util/atomic-write.js';
import { runOk } from '../util/exec.js';

/**
 * The router's NATS user: an nkey seed made here on the node (never logged, never sent anywhere), owned by
 * the router's uid, 0400, so only the router container's user (and root) reads it. Returns the public key
 * for nats.conf. An existing seed is kept (and its owner and mode repaired).
 */
export function ensureUserSeed(path: string, uid: number, gid: number): { publicKey: string; made: boolean } {
  let made = false;
  if (!existsSync(path)) {
    const kp = createUser();
    writeFileAtomic(path, kp.getSeed(), { mode: 0o400 });
    made = true;
  }
  chownSync(path, uid, gid);
  chmodSync(path, 0o400);
  const seed = readFileSync(path);
  try {
    return { publicKey: fromSeed(new Uint8Array(seed.buffer, seed.byteOffset, seed.byteLength)).getPublicKey(), made };
  } finally {
    seed.fill(0);
  }
}

/** What a route certificate says: its IP addresses, expiry and SHA-256 fingerprint. Pure. */
export interface RouteCertFacts {
  ips: string[];
  notAfter: Date;
  fingerprint: string;
}

export function routeCertFacts(pem: string): RouteCertFacts | undefined {
  try {
    const c = new X509Certificate(pem);
    const ips = [...(c.subjectAltName ?? '').matchAll(/IP Address:([0-9a-fA-F.:]+)/g)].map((m) => m[1] ?? '');
    return { ips, notAfter: new Date(c.validTo), fingerprint: c.fingerprint256 };
  } catch {
    return undefined;
  }
}

/** Days before expiry when a route certificate is made anew. */
export const ROUTE_CERT_RENEW_DAYS = 30;

/** Whether this node's route certificate must be (re)made: missing, unreadable, for another mesh address, or near expiry. Pure. */
export function routeCertDue(pem: string | undefined, address: string, now: Date): string | undefined {
  if (pem === undefined) return 'missing';
  const f = routeCertFacts(pem);
  if (!f) return 'unreadable';
  if (!f.ips.includes(address)) return `made for ${f.ips.join(',') || 'no address'}, the mesh address is ${address}`;
  if (f.notAfter.getTime() - now.getTime() < ROUTE_CERT_RENEW_DAYS * 86_400_000) return `expires ${f.notAfter.toISOString()}`;
  return undefined;
}

/**
 * Makes this node's route certificate and key (P-256, self-signed, for its mesh address; usable as server
 * and client, since a route dials and is dialled). The key is made here, 0600 root, and never leaves the
 * node: nats-server gets it as a systemd credential, the peers only ever see the certificate.
 */
export async function makeRouteCert(certPath: string, keyPath: string, address: string, nodeName: string, days = 825): Promise<void> {
  const tmp = mkdtempSync(join(dirname(keyPath), '.route-'));
  try {
    const k = join(tmp, 'key');
    const c = join(tmp, 'crt');
    await runOk([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      k,
      '-out',
      c,
      '-days',
      String(days),
      '-subj',
      `/CN=${nodeName} bulwark fabric route`,
      '-addext',
      `subjectAltName=IP:${address},DNS:${nodeName}`,
      '-addext',
      'extendedKeyUsage=serverAuth,clientAuth',
      '-addext',
      'keyUsage=critical,digitalSignature,keyCertSign',
    ]);
    chmodSync(k, 0o600);
    // the key stays in its own directory (a rename); the certificate may live on another directory tree, where
    // a rename can fail (EXDEV on overlay filesystems): it is written atomically there
    renameSync(k, keyPath);
    writeFileAtomic(certPath, readFileSync(c), { mode: 0o644 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
