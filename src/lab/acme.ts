import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { run, runOk } from '../util/exec.js';
import { labAcmeYaml, pebbleConfig, planLabAcme, type LabAcme, type LabPlan } from './topology.js';

const inOut = (plan: LabPlan, argv: string[]) => runOk(argv, { netns: plan.outsideNs, timeoutMs: 30_000 });

/** Starts a program in the outside namespace, detached (it outlives `lab up`; `lab down` kills every process there). */
function daemon(plan: LabPlan, acme: LabAcme, name: string, argv: string[], env: Record<string, string> = {}): void {
  const log = openSync(`${acme.dir}/${name}.log`, 'a', 0o600);
  const c = spawn('ip', ['netns', 'exec', plan.outsideNs, ...argv], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  c.unref();
}

async function waitTcp(plan: LabPlan, hostPort: string, what: string, acme: LabAcme): Promise<void> {
  const [host, port] = hostPort.split(':');
  for (let i = 0; i < 100; i++) {
    if ((await run(['bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { netns: plan.outsideNs })).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = existsSync(`${acme.dir}/${what}.log`) ? readFileSync(`${acme.dir}/${what}.log`, 'utf8').slice(-2000) : '';
  throw new Error(`${what} did not start on ${hostPort}\n${log}`);
}

/**
 * The lab's ACME CA on the outside network: a CA for the directory's own TLS certificate (made here,
 * 0600 keys), pebble-challtestsrv answering the lab names over DNS, pebble asking it. Writes the CA root
 * of the issued certificates to `acme.root` and the config's `acme:` section to `acme.yaml`; returns the plan.
 */
export async function startLabAcme(plan: LabPlan, say: (m: string) => void): Promise<LabAcme & { yaml: string }> {
  const acme = planLabAcme(plan);
  mkdirSync(acme.dir, { recursive: true, mode: 0o700 });
  say('lab: ACME CA (pebble) and DNS for the lab names on the outside network');
  const o = (args: string[]) => runOk(['openssl', ...args]);
  await o([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${acme.dir}/directory-ca.key`,
    '-out',
    acme.directoryCa,
    '-days',
    '365',
    '-subj',
    '/CN=Bulwark lab ACME directory CA',
  ]);
  await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${acme.dir}/directory.key`, '-out', `${acme.dir}/directory.csr`, '-subj', `/CN=${plan.outsideAddr}`]);
  writeFileSync(`${acme.dir}/directory.ext`, `subjectAltName=IP:${plan.outsideAddr}\nextendedKeyUsage=serverAuth\n`);
  await o([
    'x509',
    '-req',
    '-in',
    `${acme.dir}/directory.csr`,
    '-CA',
    acme.directoryCa,
    '-CAkey',
    `${acme.dir}/directory-ca.key`,
    '-CAcreateserial',
    '-out',
    `${acme.dir}/directory.pem`,
    '-days',
    '365',
    '-extfile',
    `${acme.dir}/directory.ext`,
  ]);
  for (const k of ['directory-ca.key', 'directory.key']) chmodSync(`${acme.dir}/${k}`, 0o600);
  writeFileSync(`${acme.dir}/pebble.json`, pebbleConfig(plan, acme));
  const a = plan.outsideAddr;
  daemon(plan, acme, 'challtestsrv', ['pebble-challtestsrv', '-dns01', acme.dns, '-management', `${a}:8055`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '', '-defaultIPv6', '']);
  await waitTcp(plan, `${a}:8055`, 'challtestsrv', acme);
  for (const r of acme.records) await inOut(plan, ['curl', '-sS', '-f', '-X', 'POST', '-d', JSON.stringify(r), `${acme.dnsManagement}/add-a`]);
  // NOSLEEP: validate at once; NONCEREJECT=0: no deliberately rejected nonces (a test CA's default is 5 %).
  daemon(plan, acme, 'pebble', ['pebble', '-config', `${acme.dir}/pebble.json`, '-dnsserver', acme.dns], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' });
  await waitTcp(plan, `${a}:15000`, 'pebble', acme);
  writeFileSync(acme.root, (await inOut(plan, ['curl', '-sS', '-f', '--cacert', acme.directoryCa, `${acme.management}/roots/0`])).stdout);
  const yaml = labAcmeYaml(plan, readFileSync(acme.directoryCa, 'utf8'));
  writeFileSync(`${acme.dir}/acme.yaml`, yaml);
  return { ...acme, yaml };
}
