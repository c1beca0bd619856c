import { X509Certificate } from 'node:crypto';
import type { CertFacts } from './plan.js';

const FIRST_PEM = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/;

/** The first certificate of a PEM chain. Throws on anything that isn't one. */
export function leafOf(pem: string | Buffer): X509Certificate {
  const m = FIRST_PEM.exec(pem.toString());
  if (!m) throw new Error('no PEM certificate');
  return new X509Certificate(m[0]);
}

function cnOf(dn: string): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1];
  return cn ?? dn.replace(/\n/g, ', ');
}

/** What a PEM certificate (chain) says of its leaf. Pure. */
export function certFacts(pem: string | Buffer): CertFacts {
  const c = leafOf(pem);
  const names = (c.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    names,
    issuer: cnOf(c.issuer),
    serial: c.serialNumber.toLowerCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    selfSigned: c.issuer === c.subject && c.verify(c.publicKey),
  };
}
