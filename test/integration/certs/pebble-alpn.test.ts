import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runOk } from '../../../src/util/exec.js';
import { certFacts } from '../../../src/certs/x509.js';
import type { ReconcileReport } from '../../../src/core/reconciler.js';
import { tempDir } from '../router/helpers.js';
import { acmePassArgv, PebbleNamespace } from './pebble-ns.js';

// TLS-ALPN-01 against Debian's pebble in a namespace of its own: pebble validates on the router's TLS
// port (tlsPort 443) while nothing at all listens on port 80; the real router (`bulwark router`, from
// dist/) has only its wss listener with acmeChallengeDir. Needs `make build`.
const NS = 'bwt-acme-alpn';
const CA = '192.0.2.10';
const NODE = '192.0.2.20';
const ROOT = resolve(import.meta.dirname, '../../..');
const tmp = tempDir('bwt-acme-alpn-');
const lab = new PebbleNamespace(NS, tmp.dir, CA, NODE);
const { f, logs } = lab;
const spawnInNs = lab.spawn.bind(lab);
const waitPort = lab.waitPort.bind(lab);
const connects = lab.connects.bind(lab);

const clusterConfig = `cluster: acme
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: ${NODE} }
router:
  listeners:
    - { type: websocket, fdName: https, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge, tls: { cert: ${f('tls/cert.pem')}, key: ${f('tls/key.pem')} } }
acme:
  directory: https://${CA}:14000/dir
  email: ops@example.org
  names: { n1: n1.example.org }
  sharedName: wamp.example.org
  challenge: tls-alpn-01
  caRoot: ${f('pebble-ca.pem')}
`;

beforeAll(async () => {
  await lab.up();
  writeFileSync(
    f('router.yaml'),
    `realms: [{ name: app, roles: [{ name: public, permissions: [{ uri: com.example., match: prefix, call: true }] }] }]
listeners:
  - { type: websocket, host: ${NODE}, port: 443, auth: [anonymous], acmeChallengeDir: ${f('challenge')}, tls: { cert: ${f('tls/cert.pem')}, key: ${f('tls/key.pem')} } }
auth: { anonymous: { role: public } }
`,
  );
  spawnInNs('router', [process.execPath, join(ROOT, 'dist/src/cli/main.js'), 'router', '--config', f('router.yaml')]);
  await waitPort(CA, 14000);
  await waitPort(NODE, 443);
  writeFileSync(f('root.pem'), (await runOk(['ip', 'netns', 'exec', NS, 'curl', '-sS', '--cacert', f('pebble-ca.pem'), `https://${CA}:15000/roots/0`])).stdout);
}, 60_000);

afterAll(async () => {
  await lab.down();
  tmp.cleanup();
});

describe('ACME TLS-ALPN-01 against pebble', () => {
  it('issues for the own and the shared name with port 80 closed; the router answered acme-tls/1 on 443', async () => {
    expect(await connects(NODE, 80)).toBe(false);
    const arg = JSON.stringify({ config: clusterConfig, node: 'n1', stateDir: f('state'), challengeDir: f('challenge') });
    const r = await run(acmePassArgv(NS, ROOT, arg), { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as { first: ReconcileReport; second: ReconcileReport };
    expect(p.first.drift).toEqual(['certificate for n1.example.org,wamp.example.org due: self-signed']);
    expect(p.second.error, r.stderr).toBeUndefined();
    const c = certFacts(readFileSync(f('tls/cert.pem')));
    expect(c).toMatchObject({ names: ['n1.example.org', 'wamp.example.org'], selfSigned: false });
    expect(c.issuer).toMatch(/^Pebble Intermediate CA/);
    expect(r.stderr).toContain('publishing the tls-alpn-01 answer for n1.example.org');
    expect(r.stderr).not.toMatch(/PRIVATE KEY|BEGIN EC/);
    for (const name of ['n1.example.org', 'wamp.example.org'])
      expect(logs.router).toMatch(
        new RegExp(`"name":"${name.replace(/\./g, '\\.')}".*"msg":"answering a TLS-ALPN-01 validation"|"msg":"answering a TLS-ALPN-01 validation".*"name":"${name.replace(/\./g, '\\.')}"`),
      );
    expect(readdirSync(f('challenge'))).toEqual([]); // validation certificates removed afterwards
    // an ordinary client verifies the new certificate on the same port
    let out = '';
    for (let i = 0; i < 30 && !out.includes('Verify return code: 0 (ok)'); i++) {
      await new Promise((res) => setTimeout(res, 100));
      out = (
        await run(
          [
            'ip',
            'netns',
            'exec',
            NS,
            'openssl',
            's_client',
            '-connect',
            `${NODE}:443`,
            '-servername',
            'wamp.example.org',
            '-verify_hostname',
            'wamp.example.org',
            '-CAfile',
            f('root.pem'),
            '-verify_return_error',
          ],
          { timeoutMs: 20_000 },
        )
      ).stdout;
    }
    expect(out).toContain('Verify return code: 0 (ok)');
  });
});
