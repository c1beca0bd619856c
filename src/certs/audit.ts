import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { AUDIT_MIN_DAYS, type CertFacts, daysLeft, tlsFiles, wantedCertificates } from './plan.js';
import { readCertFacts } from './store.js';

/**
 * Verdicts on one TLS listener's certificate. Pure. Fails when it is missing, has less than 14 days left,
 * or, with `acme:` configured, is self-signed or lacks a wanted name. Without `acme:` a self-signed
 * certificate passes (it is the documented default) but says so.
 */
export function evaluateCertificate(listener: string, f: CertFacts | undefined, now: Date, acme: { names: readonly string[] } | undefined): AuditCheck[] {
  const id = (what: string) => `certs.${listener}.${what}`;
  if (!f) return [{ id: id('present'), status: 'fail', evidence: 'certificate file missing or unreadable' }];
  const left = daysLeft(f, now);
  const desc = `${f.names.join(',') || '(no DNS names)'} issuer "${f.issuer}", ${left} days left (serial ${f.serial})`;
  const checks: AuditCheck[] = [{ id: id('expiry'), status: left >= AUDIT_MIN_DAYS ? 'pass' : 'fail', evidence: `${desc}; at least ${AUDIT_MIN_DAYS} wanted` }];
  if (acme) {
    checks.push({ id: id('issuer'), status: f.selfSigned ? 'fail' : 'pass', evidence: f.selfSigned ? `self-signed although acme: is configured: ${desc}` : `issued by "${f.issuer}"` });
    const missing = acme.names.filter((n) => !f.names.includes(n));
    checks.push({
      id: id('names'),
      status: missing.length ? 'fail' : 'pass',
      evidence: missing.length ? `lacks ${missing.join(', ')} (has ${f.names.join(', ') || 'none'})` : `covers ${acme.names.join(', ')}`,
    });
  } else {
    checks.push({ id: id('issuer'), status: 'pass', evidence: f.selfSigned ? 'self-signed (no acme: section; the node made it itself)' : `issued by "${f.issuer}"` });
  }
  return checks;
}

export const certsAudit: AuditProvider<Config> = {
  name: 'certs',
  async run(ctx) {
    const now = new Date();
    const wanted = wantedCertificates(ctx.config, ctx.nodeName);
    const files = tlsFiles(ctx.config);
    if (files.length === 0) return [{ id: 'certs.tls', status: 'n/a', evidence: 'no TLS listener' }];
    return files.flatMap((t) => {
      const w = wanted.find((x) => x.cert === t.cert);
      return evaluateCertificate(t.listener, readCertFacts(t.cert), now, ctx.config.acme && w ? { names: w.names } : undefined);
    });
  },
};
