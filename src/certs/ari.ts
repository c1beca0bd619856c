/**
 * ACME Renewal Information (ARI, RFC 9773): the CA may suggest a window in which to renew a certificate
 * (earlier than our own third-of-lifetime rule, e.g. ahead of a mass revocation). The pure parts (the CertID,
 * the reply's shape, the instant within the window) and one small adapter that asks the CA; a CA without
 * `renewalInfo` in its directory, or any failure, leaves the lifetime rule alone.
 */
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet, Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { authorityKeyIdentifier } from './der.js';

const b64url = (b: Buffer): string => b.toString('base64url');

/** A serial number's DER INTEGER content octets: minimal, with a leading 0x00 when the high bit is set. Pure. */
export function serialOctets(serialHex: string): Buffer {
  let hex = serialHex.replace(/[^0-9a-fA-F]/g, '');
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  if (b.length === 0 || (b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return b;
}

/** RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER INTEGER content). Pure. */
export function ariCertId(authorityKeyId: Buffer, serialHex: string): string {
  return `${b64url(authorityKeyId)}.${b64url(serialOctets(serialHex))}`;
}

/** The CertID of a PEM certificate (its leaf), or undefined when it carries no Authority Key Identifier. */
export function certIdOf(pem: string): string | undefined {
  const first = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!first) return undefined;
  const c = new X509Certificate(first);
  const keyId = authorityKeyIdentifier(c.raw);
  return keyId ? ariCertId(keyId, c.serialNumber) : undefined;
}

export const renewalInfoSchema = z.object({
  suggestedWindow: z.object({ start: z.iso.datetime({ offset: true }), end: z.iso.datetime({ offset: true }) }),
  explanationURL: z.string().optional(),
});

export interface RenewalWindow {
  start: Date;
  end: Date;
  /** The instant within the window this node renews at (RFC 9773 §4.2: chosen at random in the window). */
  renewAt: Date;
}

/** The window of a renewalInfo reply and this node's instant in it (`fraction` in [0, 1)). Throws on a bad reply. Pure. */
export function renewalWindow(reply: unknown, fraction: number): RenewalWindow {
  const r = renewalInfoSchema.parse(reply);
  const start = new Date(r.suggestedWindow.start);
  const end = new Date(r.suggestedWindow.end);
  if (!(end.getTime() >= start.getTime())) throw new Error('renewalInfo window ends before it starts');
  const f = Math.min(Math.max(fraction, 0), 0.999);
  return { start, end, renewAt: new Date(start.getTime() + f * (end.getTime() - start.getTime())) };
}

function getJson(url: string, caRoot: string | undefined, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const https = url.startsWith('https:');
    const onRes = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) res.destroy(new Error(`${url}: reply too large`));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new Error(`${url}: not JSON (${(e as Error).message})`));
        }
      });
      res.on('error', reject);
    };
    const req = https ? httpsGet(url, { agent: caRoot ? new HttpsAgent({ ca: [...rootCertificates, caRoot] }) : undefined, timeout: timeoutMs }, onRes) : httpGet(url, { timeout: timeoutMs }, onRes);
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Asks the CA for a certificate's renewal window: the directory's `renewalInfo` URL + "/" + CertID. Undefined
 * when the CA offers no ARI or the certificate has no Authority Key Identifier; throws on a failed request.
 */
export async function fetchRenewalWindow(directory: string, caRoot: string | undefined, certPem: string, fraction: number, timeoutMs = 5_000): Promise<RenewalWindow | undefined> {
  const certId = certIdOf(certPem);
  if (!certId) return undefined;
  const dir = z.object({ renewalInfo: z.string().url().optional() }).parse(await getJson(directory, caRoot, timeoutMs));
  if (!dir.renewalInfo) return undefined;
  return renewalWindow(await getJson(`${dir.renewalInfo.replace(/\/$/, '')}/${certId}`, caRoot, timeoutMs), fraction);
}
