import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runOk } from '../../../src/util/exec.js';
import { certFacts } from '../../../src/certs/x509.js';
import type { ReconcileReport } from '../../../src/core/reconciler.js';
import type { AuditCheck } from '../../../src/core/audit.js';
import { tempDir } from '../router/helpers.js';
import { acmePassArgv, PebbleNamespace } from './pebble-ns.js';

// The agent's certs capability against Debian's pebble (a real RFC 8555 CA) in a namespace of its own:
// pebble and pebble-challtestsrv's DNS (every name → the node) on 192.0.2.10, the real router
// (`bulwark router`, from dist/) on 192.0.2.20:80/443, the capability run by acme-pass.mjs in the same
// namespace. Issue, no renewal while not due, forced renewal, revocation, a failed validation and a CA
// outage (the installed certificate stays, backoff). Needs `make build`.
const NS = 'bwt-acme';
const CA = '192.0.2.10';
const NODE = '192.0.2.20';
const ROOT = resolve(import.meta.dirname, '../../..');
const tmp = tempDir('bwt-acme-');
const lab = new PebbleNamespace(NS, tmp.dir, CA, NODE);
const { f, logs } = lab;
const spawnInNs = lab.spawn.bind(lab);
const waitPort = lab.waitPort.bind(lab);

const clusterConfig = (extra = '') => `cluster: acme
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: ${NODE} }
router:
  listeners:
    - { type: websocket, fdName: https, tls: { cert: ${f('tls/cert.pem')}, key: ${f('tls/key.pem')} } }
    - { type: redirect, fdName: http, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge }
acme:
  directory: https://${CA}:14000/dir
  email: ops@example.org
  names: { n1: n1.example.org }
  sharedName: wamp.example.org
  caRoot: ${f('pebble-ca.pem')}
${extra}`;

interface Pass {
  first: ReconcileReport;
  second: ReconcileReport;
  log: string;
}
async function pass(opts: { extra?: string; challengeDir?: string; op?: string } = {}): Promise<Pass> {
  const arg = JSON.stringify({ config: clusterConfig(opts.extra), node: 'n1', stateDir: f('state'), challengeDir: opts.challengeDir ?? f('challenge'), op: opts.op });
  const r = await run(acmePassArgv(NS, ROOT, arg), { timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`acme-pass exit ${r.code}: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as { first: ReconcileReport; second: ReconcileReport }), log: r.stderr };
}
const audit = async () => (JSON.parse((await runOk(acmePassArgv(NS, ROOT, JSON.stringify({ config: clusterConfig(), node: 'n1', op: 'audit' })))).stdout) as { checks: AuditCheck[] }).checks;

const served = async (name: string): Promise<{ verified: boolean; serial: string; out: string }> => {
  const r = await run(
    ['ip', 'netns', 'exec', NS, 'openssl', 's_client', '-connect', `${NODE}:443`, '-servername', name, '-verify_hostname', name, '-CAfile', f('root.pem'), '-verify_return_error', '-showcerts'],
    { timeoutMs: 20_000 },
  );
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  return { verified: r.code === 0 && r.stdout.includes('Verify return code: 0 (ok)'), serial: pem ? certFacts(pem).serial : '', out: r.stdout + r.stderr };
};
/** Polls until 443 serves `serial` (the router reloads within a fraction of a second of the rename). */
async function servedSoon(name: string, serial: string): Promise<Awaited<ReturnType<typeof served>>> {
  let s = await served(name);
  for (let i = 0; i < 30 && s.serial !== serial; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = await served(name);
  }
  return s;
}
const installed = () => certFacts(readFileSync(f('tls/cert.pem')));
const mgmt = async (path: string) => (await runOk(['ip', 'netns', 'exec', NS, 'curl', '-sS', '--cacert', f('pebble-ca.pem'), `https://${CA}:15000${path}`])).stdout;

beforeAll(async () => {
  await lab.up();
  writeFileSync(
    f('router.yaml'),
    `realms: [{ name: app, roles: [{ name: public, permissions: [{ uri: com.example., match: prefix, call: true, register: true }] }] }]
listeners:
  - { type: websocket, host: ${NODE}, port: 443, auth: [anonymous], tls: { cert: ${f('tls/cert.pem')}, key: ${f('tls/key.pem')} } }
  - { type: redirect, host: ${NODE}, port: 80, acmeChallengeDir: ${f('challenge')} }
auth: { anonymous: { role: public } }
`,
  );
  spawnInNs('router', [process.execPath, join(ROOT, 'dist/src/cli/main.js'), 'router', '--config', f('router.yaml')]);
  await waitPort(CA, 14000);
  await waitPort(NODE, 443);
  await waitPort(NODE, 80);
  writeFileSync(f('root.pem'), await mgmt('/roots/0'));
}, 60_000);

afterAll(async () => {
  await lab.down();
  tmp.cleanup();
});

describe('ACME against pebble', () => {
  let firstSerial = '';

  it('replaces the self-signed certificate with one for the own and the shared name; keys stay 0600/0640 and out of the log', async () => {
    expect((await served('n1.example.org')).verified).toBe(false); // self-signed: does not verify
    expect((await audit()).map((c) => `${c.id} ${c.status}`)).toEqual(['certs.https.expiry pass', 'certs.https.issuer fail', 'certs.https.names fail']);
    const p = await pass();
    expect(p.first.drift).toEqual(['certificate for n1.example.org,wamp.example.org due: self-signed']);
    expect(p.second.drift).toEqual([]);
    expect(p.second.error).toBeUndefined();
    const c = installed();
    expect(c).toMatchObject({ names: ['n1.example.org', 'wamp.example.org'], selfSigned: false });
    expect(c.issuer).toMatch(/^Pebble Intermediate CA/);
    expect(Math.round((c.notAfter.getTime() - c.notBefore.getTime()) / 86_400_000)).toBe(90);
    expect(p.second.notes[0]).toMatch(/^certificate n1\.example\.org,wamp\.example\.org issuer "Pebble Intermediate CA [0-9a-f]+", 89 days left/);
    for (const name of ['n1.example.org', 'wamp.example.org']) {
      const s = await servedSoon(name, c.serial);
      expect(s.verified, s.out).toBe(true);
      expect(s.serial).toBe(c.serial);
    }
    expect(statSync(f('state/account.key')).mode & 0o777).toBe(0o600);
    expect(statSync(f('tls/key.pem')).mode & 0o777).toBe(0o640);
    expect(statSync(f('tls/key.pem')).gid).toBe(60500);
    expect(p.log).toContain('certificate installed; the router reloads it live');
    expect(p.log).not.toMatch(/PRIVATE KEY|BEGIN EC/);
    expect(readdirSync(f('challenge'))).toEqual([]); // answers removed after validation
    const after = await audit();
    expect(after.map((x) => `${x.id} ${x.status}`)).toEqual(['certs.https.expiry pass', 'certs.https.issuer pass', 'certs.https.names pass']);
    expect(after[0]?.evidence).toMatch(/^n1\.example\.org,wamp\.example\.org issuer "Pebble Intermediate CA [0-9a-f]+", 89 days left/);
    firstSerial = c.serial;
  });

  it('does not renew while a third of the lifetime remains; renews when renewBefore says so, served live', async () => {
    const idle = await pass();
    expect(idle.first.drift).toEqual([]);
    expect(installed().serial).toBe(firstSerial);
    const p = await pass({ extra: '  renewBefore: 3650d\n' });
    expect(p.first.drift[0]).toMatch(/^certificate for n1\.example\.org,wamp\.example\.org due: 89d left of (89|90)d$/);
    const renewed = installed().serial;
    expect(renewed).not.toBe(firstSerial);
    // the router watches its files: the next connection sees the new serial, no restart
    const s = await servedSoon('n1.example.org', renewed);
    expect(s).toMatchObject({ verified: true, serial: renewed });
    expect(logs.router).toContain('TLS certificate reloaded');
  });

  it('revokes the installed certificate', async () => {
    const serial = installed().serial;
    expect(JSON.parse(await mgmt(`/cert-status-by-serial/${serial}`))).toMatchObject({ Status: 'Valid' });
    await pass({ op: 'revoke' });
    expect(JSON.parse(await mgmt(`/cert-status-by-serial/${serial}`))).toMatchObject({ Status: 'Revoked' });
  });

  it('a failed validation is a clear error; the installed certificate stays and the next try waits (backoff)', async () => {
    const before = installed().serial;
    // answers go where the router doesn't look: pebble's HTTP-01 request gets a 404
    execFileSync('mkdir', ['-p', f('elsewhere')]);
    const p = await pass({ extra: '  renewBefore: 3650d\n', challengeDir: f('elsewhere') });
    expect(p.first.drift.length).toBe(1);
    expect(p.log).toContain('certificate request failed; the installed certificate stays');
    // a note, not a failing capability: the installed certificate has weeks left and the agent retries
    expect(p.second.error).toBeUndefined();
    expect(p.second.notes.join('\n')).toMatch(/^last ACME attempt failed \(1x\): order for n1\.example\.org,wamp\.example\.org: .*404/m);
    expect(p.second.drift).toEqual([]); // backoff: no second attempt right away
    expect(installed().serial).toBe(before);
    expect((await served('n1.example.org')).serial).toBe(before);
  });

  it('a CA outage backs off and keeps the certificate', async () => {
    for (const x of readdirSync(f('state'))) if (x.startsWith('retry-')) rmSync(f(`state/${x}`));
    const before = installed().serial;
    lab.pebble?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const p = await pass({ extra: '  renewBefore: 3650d\n' });
    expect(p.second.error).toBeUndefined();
    expect(p.second.notes.join('\n')).toMatch(/^last ACME attempt failed \(1x\): order for .*: ACME directory https:\/\/192\.0\.2\.10:14000\/dir unreachable: ECONNREFUSED/m);
    const retry = JSON.parse(readFileSync(f(`state/${readdirSync(f('state')).find((x) => x.startsWith('retry-'))}`), 'utf8')) as { failures: number; nextAttemptAt: string };
    expect(retry.failures).toBe(1);
    expect(Date.parse(retry.nextAttemptAt) - Date.now()).toBeGreaterThan(30_000);
    expect(installed().serial).toBe(before);
    expect(existsSync(f('tls/key.pem'))).toBe(true);
    expect((await served('n1.example.org')).serial).toBe(before);
    // with only a self-signed certificate in place the same failure fails the capability
    for (const x of readdirSync(f('state'))) if (x.startsWith('retry-')) rmSync(f(`state/${x}`));
    lab.selfSigned();
    const bad = await pass();
    expect(bad.second.error ?? '').toMatch(/^last ACME attempt failed \(1x\): .*unreachable: ECONNREFUSED/);
  });
});
