import { describe, expect, it } from 'vitest';
import { render } from '../../../src/agent/status-command.js';
import { evaluateCertificate } from '../../../src/certs/audit.js';
import type { CertFacts } from '../../../src/certs/plan.js';

const day = 86_400_000;
const now = new Date(100 * day);
const facts = (over: Partial<CertFacts> = {}): CertFacts => ({
  names: ['n1.example.org', 'wamp.example.org'],
  issuer: 'Pebble Intermediate CA 1a2b',
  serial: '0abc',
  notBefore: new Date(95 * day),
  notAfter: new Date(185 * day),
  selfSigned: false,
  ...over,
});
const acme = { names: ['n1.example.org', 'wamp.example.org'] };

describe('certificate audit', () => {
  it('passes an ACME certificate with its names and time left, saying issuer and days left', () => {
    const c = evaluateCertificate('https', facts(), now, acme);
    expect(c.map((x) => [x.id, x.status])).toEqual([
      ['certs.https.expiry', 'pass'],
      ['certs.https.issuer', 'pass'],
      ['certs.https.names', 'pass'],
    ]);
    expect(c[0]?.evidence).toBe('n1.example.org,wamp.example.org issuer "Pebble Intermediate CA 1a2b", 85 days left (serial 0abc); at least 14 wanted');
  });

  it('fails below 14 days left, on a self-signed certificate when acme: is configured, and on a missing name', () => {
    expect(evaluateCertificate('https', facts({ notAfter: new Date(113 * day + 1) }), now, acme)[0]?.status).toBe('fail');
    expect(evaluateCertificate('https', facts({ notAfter: new Date(114 * day) }), now, acme)[0]?.status).toBe('pass');
    expect(evaluateCertificate('https', facts({ selfSigned: true, issuer: 'n1' }), now, acme)[1]).toMatchObject({
      status: 'fail',
      evidence: expect.stringMatching(/^self-signed although acme: is configured/),
    });
    expect(evaluateCertificate('https', facts({ names: ['n1.example.org'] }), now, acme)[2]).toMatchObject({ status: 'fail', evidence: 'lacks wamp.example.org (has n1.example.org)' });
    expect(evaluateCertificate('https', undefined, now, acme)).toEqual([{ id: 'certs.https.present', status: 'fail', evidence: 'certificate file missing or unreadable' }]);
  });

  it('without acme: a self-signed certificate passes and says so', () => {
    const c = evaluateCertificate('https', facts({ selfSigned: true, names: ['n1'], issuer: '192.0.2.11' }), now, undefined);
    expect(c.map((x) => x.status)).toEqual(['pass', 'pass']);
    expect(c[1]?.evidence).toBe('self-signed (no acme: section; the node made it itself)');
  });
});

describe('bulwark status', () => {
  it('shows each certificate the certs capability noted under its node', () => {
    const note = 'certificate n1.example.org,wamp.example.org issuer "Pebble Intermediate CA 1a2b", 85 days left, serial 0abc';
    const text = render([
      {
        node: 'n1',
        ok: true,
        version: '0.1.0',
        uptimeSec: 5,
        summary: '5 capabilities reconciled, no drift',
        lastReconcile: { at: 'T', durationMs: 1, reports: [{ name: 'certs', changed: false, drift: [], notes: [note, 'last ACME attempt failed (1x): x'] }] },
      },
    ]);
    expect(text).toBe(`n1  bulwark 0.1.0  up 5s  last reconcile T  5 capabilities reconciled, no drift\n  ${note}\n`);
  });
});
