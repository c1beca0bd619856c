import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, parseConfig } from '../../../src/config/index.js';
import { afterAttempt, backoffMs, type CertFacts, isAcmeToken, mayAttempt, renewalDecision, wantedCertificates } from '../../../src/certs/plan.js';
import { certFacts } from '../../../src/certs/x509.js';
import { factsFromConfig } from '../../../src/firewall/node-facts.js';
import { planFirewall } from '../../../src/firewall/plan.js';

const BASE = `cluster: lab
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
  - { name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12 }
router:
  listeners:
    - type: websocket
      fdName: https
      tls: { cert: /var/lib/bulwark/router/tls/cert.pem, key: /var/lib/bulwark/router/tls/key.pem }
    - { type: redirect, fdName: http, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge }
`;
const ACME = `acme:
  directory: https://192.0.2.1:14000/dir
  email: ops@example.org
  names: { n1: n1.example.org, n2: n2.example.org }
  sharedName: wamp.example.org
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('acme: config', () => {
  it('accepts a full section and plans one certificate per node with its own and the shared name', () => {
    const cfg = parseConfig(BASE + ACME);
    expect(cfg.acme?.challenge).toBe('http-01');
    expect(wantedCertificates(cfg, 'n2')).toEqual([{ names: ['n2.example.org', 'wamp.example.org'], cert: '/var/lib/bulwark/router/tls/cert.pem', key: '/var/lib/bulwark/router/tls/key.pem' }]);
    expect(wantedCertificates(parseConfig(BASE), 'n1')).toEqual([]);
  });

  it('names file, line and field of each problem', () => {
    const bad = BASE + ACME.replace('https://192.0.2.1:14000/dir', 'http://ca/dir').replace('n2: n2.example.org', 'n3: N3.example.org').replace('  sharedName', '  renewBefore: 3 weeks\n  sharedName');
    expect(problems(bad)).toEqual([
      'c.yaml:12:14: acme.directory: must be an https:// URL (the ACME directory)',
      'c.yaml:14:10: acme.names: node "n2" has no name (add n2: NAME)',
      'c.yaml:14:36: acme.names.n3: must be a lower-case DNS name like n1.example.org (no wildcard, no IP address)',
      'c.yaml:14:36: acme.names.n3: no node "n3" in nodes',
      'c.yaml:15:16: acme.renewBefore: must be a duration like 30d, 12h, 90m or 45s',
    ]);
  });

  it('refuses an unknown challenge and a config without a port-80 challenge listener', () => {
    expect(problems(BASE + ACME + '  challenge: dns-01\n')).toEqual(['c.yaml:16:14: acme.challenge: must be http-01 or tls-alpn-01']);
    const noDir = BASE.replace(', acmeChallengeDir: /var/lib/bulwark/router/acme-challenge', '');
    expect(problems(noDir + ACME)[0]).toMatch(/acme\.challenge: http-01 needs a router listener \{ type: redirect, fdName: http, acmeChallengeDir: \/var\/lib\/bulwark\/router\/acme-challenge \}/);
  });

  it('tls-alpn-01: the TLS listener answers it, port 80 may be closed (no redirect listener, firewall keeps 80 shut)', () => {
    const noRedirect = BASE.replace(/ {4}- \{ type: redirect.*\n/, '');
    const alpnBase = noRedirect.replace('      fdName: https\n', '      fdName: https\n      acmeChallengeDir: /var/lib/bulwark/router/acme-challenge\n');
    const cfg = parseConfig(alpnBase + ACME + '  challenge: tls-alpn-01\n');
    expect(cfg.acme?.challenge).toBe('tls-alpn-01');
    expect(cfg.router.listeners.map((l) => l.type)).toEqual(['websocket']);
    const facts = factsFromConfig(cfg, 'n1', { resolvers: [], aptUid: undefined, meshMembers: undefined });
    expect(facts.httpRedirect).toBe(false);
    const opens80 = (f: typeof facts) => planFirewall({}, f).inputAllows.some((x) => x.proto === 'tcp' && x.ports.some(([lo, hi]) => lo <= 80 && 80 <= hi));
    expect(opens80(facts)).toBe(false);
    // with http-01 the redirect listener is required and opens port 80
    expect(opens80(factsFromConfig(parseConfig(BASE + ACME), 'n1', { resolvers: [], aptUid: undefined, meshMembers: undefined }))).toBe(true);
    // tls-alpn-01 without the TLS listener's challenge directory is refused, naming the field
    expect(problems(noRedirect + ACME + '  challenge: tls-alpn-01\n')).toEqual([
      'c.yaml:15:14: acme.challenge: tls-alpn-01 needs the TLS listener to answer it: add acmeChallengeDir: /var/lib/bulwark/router/acme-challenge to the websocket listener with tls',
    ]);
    // a challenge directory on a listener without TLS is refused
    expect(problems(alpnBase.replace(/ {6}tls: .*\n/, '')).join('\n')).toMatch(/acmeChallengeDir: TLS-ALPN-01 answers need a TLS listener/);
  });
});

const day = 86_400_000;
const facts = (over: Partial<CertFacts> = {}): CertFacts => ({
  names: ['n1.example.org'],
  issuer: 'CA',
  serial: '01',
  notBefore: new Date(0),
  notAfter: new Date(90 * day),
  selfSigned: false,
  ...over,
});

describe('renewal decision', () => {
  it('is due without a certificate, for a self-signed one and for other names', () => {
    expect(renewalDecision(['n1.example.org'], undefined, new Date(0)).reason).toBe('no certificate');
    expect(renewalDecision(['n1.example.org'], facts({ selfSigned: true }), new Date(0))).toMatchObject({ due: true, reason: 'self-signed' });
    expect(renewalDecision(['n1.example.org', 'wamp.example.org'], facts(), new Date(0))).toMatchObject({ due: true });
  });

  it('renews when a third of the lifetime remains (default) or at renewBefore', () => {
    expect(renewalDecision(['n1.example.org'], facts(), new Date(59 * day))).toMatchObject({ due: false, dueAt: new Date(60 * day) });
    expect(renewalDecision(['n1.example.org'], facts(), new Date(60 * day)).due).toBe(true);
    expect(renewalDecision(['n1.example.org'], facts(), new Date(59 * day), '40d').due).toBe(true);
    expect(renewalDecision(['n1.example.org'], facts(), new Date(10 * day), '100d').due).toBe(true);
  });

  it('is due exactly when the remaining time is below the window (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 60, max: 400 * 86_400 }), fc.integer({ min: 0, max: 500 * 86_400 }), (life, at) => {
        const f = facts({ notAfter: new Date(life * 1000) });
        const d = renewalDecision(['n1.example.org'], f, new Date(at * 1000));
        expect(d.due).toBe(life - at <= life / 3);
      }),
    );
  });

  it('backs off 1 min doubling to at most 6 h, and clears on success', () => {
    expect([0, 1, 2, 3, 10, 40].map(backoffMs)).toEqual([0, 60_000, 120_000, 240_000, 6 * 3_600_000, 6 * 3_600_000]);
    const t = new Date(1000);
    const s1 = afterAttempt({ failures: 0 }, t, 'connect ECONNREFUSED');
    expect(s1).toMatchObject({ failures: 1, lastError: 'connect ECONNREFUSED', nextAttemptAt: new Date(61_000).toISOString() });
    expect(mayAttempt(s1, new Date(60_999))).toBe(false);
    expect(mayAttempt(s1, new Date(61_000))).toBe(true);
    expect(afterAttempt(afterAttempt(s1, t, 'again'), t)).toEqual({ failures: 0, lastAttemptAt: t.toISOString(), lastIssuedAt: t.toISOString() });
  });

  it('accepts only base64url tokens of at least 128 bits', () => {
    expect(isAcmeToken('LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0')).toBe(true);
    for (const t of ['../../etc/passwd', 'a'.repeat(21), 'abc.def_ghijklmnopqrstuvwxyz', 'x/yyyyyyyyyyyyyyyyyyyyyyyy', '']) expect(isAcmeToken(t)).toBe(false);
  });
});

describe('certificate facts', () => {
  it('reads names, issuer, serial, lifetime and self-signedness of a real certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-x509-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'k'),
          '-out',
          join(dir, 'c'),
          '-days',
          '30',
          '-subj',
          '/CN=n1',
          '-addext',
          'subjectAltName=DNS:n1.example.org,IP:192.0.2.11,DNS:wamp.example.org',
          '-set_serial',
          '0x1234',
        ],
        { stdio: 'ignore' },
      );
      const f = certFacts(readFileSync(join(dir, 'c')));
      expect(f).toMatchObject({ names: ['n1.example.org', 'wamp.example.org'], issuer: 'n1', serial: '1234', selfSigned: true });
      expect(Math.round((f.notAfter.getTime() - f.notBefore.getTime()) / day)).toBe(30);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
