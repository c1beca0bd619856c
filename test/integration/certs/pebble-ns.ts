import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.js';

export function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Debian's pebble (a real RFC 8555 CA) with pebble-challtestsrv's DNS (every name → the node) in a network
 * namespace of the test's own: the CA on 192.0.2.10, the node on 192.0.2.20, both on the namespace's lo.
 * Files go to `dir`; `down()` kills what it started and removes the namespace.
 */
export class PebbleNamespace {
  readonly children: ChildProcess[] = [];
  readonly logs: Record<string, string> = { pebble: '', router: '' };
  pebble: ChildProcess | undefined;
  readonly f = (n: string): string => join(this.dir, n);

  constructor(
    readonly ns: string,
    readonly dir: string,
    readonly ca = '192.0.2.10',
    readonly node = '192.0.2.20',
  ) {}

  spawn(name: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', this.ns, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const add = (d: Buffer) => (this.logs[name] = (this.logs[name] ?? '') + d.toString());
    c.stdout?.on('data', add);
    c.stderr?.on('data', add);
    this.children.push(c);
    return c;
  }

  async connects(host: string, port: number): Promise<boolean> {
    return (await run(['ip', 'netns', 'exec', this.ns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`])).code === 0;
  }

  async waitPort(host: string, port: number): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await this.connects(host, port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nothing listens on ${host}:${port}:\n${Object.values(this.logs).join('\n')}`);
  }

  /** The namespace, pebble's own HTTPS certificate (its root is the config's caRoot), challtestsrv's DNS and pebble. */
  async up(): Promise<void> {
    const { ns, ca, node, f } = this;
    await run(['ip', 'netns', 'del', ns]);
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const a of [ca, node]) execFileSync('ip', ['-n', ns, 'address', 'add', `${a}/32`, 'dev', 'lo']);
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f('pebble-ca.key'),
      '-out',
      f('pebble-ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=pebble directory test CA',
    ]);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('pebble.key'), '-out', f('pebble.csr'), '-subj', `/CN=${ca}`]);
    writeFileSync(f('ext.cnf'), `subjectAltName=IP:${ca}\nextendedKeyUsage=serverAuth\n`);
    openssl(['x509', '-req', '-in', f('pebble.csr'), '-CA', f('pebble-ca.pem'), '-CAkey', f('pebble-ca.key'), '-CAcreateserial', '-out', f('pebble.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
    const pebble = {
      listenAddress: `${ca}:14000`,
      managementListenAddress: `${ca}:15000`,
      certificate: f('pebble.pem'),
      privateKey: f('pebble.key'),
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      certificateValidityPeriod: 90 * 86_400,
    };
    writeFileSync(f('pebble.json'), JSON.stringify({ pebble }));
    this.spawn('challtestsrv', ['pebble-challtestsrv', '-dns01', `${ca}:8053`, '-defaultIPv4', node, '-defaultIPv6', '', '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `${ca}:8055`]);
    this.startPebble();
    mkdirSync(f('tls'), { recursive: true });
    mkdirSync(f('challenge'), { recursive: true });
    this.selfSigned();
  }

  startPebble(): ChildProcess {
    // PEBBLE_VA_NOSLEEP: validate at once; NONCEREJECT=0: no random badNonce; AUTHZREUSE=0: every order is validated anew.
    this.pebble = this.spawn('pebble', ['pebble', '-config', this.f('pebble.json'), '-dnsserver', `${this.ca}:8053`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
    return this.pebble;
  }

  /** The node's starting point (tls/cert.pem, tls/key.pem): the self-signed certificate a node makes for itself without acme:. */
  selfSigned(): void {
    const f = this.f;
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f('tls/key.pem'),
      '-out',
      f('tls/cert.pem'),
      '-days',
      '825',
      '-subj',
      '/CN=n1',
      '-addext',
      'subjectAltName=DNS:n1',
    ]);
  }

  async down(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    await run(['ip', 'netns', 'del', this.ns]);
  }
}

/**
 * The V8 flags bulwark-agent.service starts the agent with (units/bulwark-agent.service ExecStart): the
 * certs capability runs under them here too, so a flag that breaks it (or its ACME child) fails this test.
 */
function agentNodeFlags(root: string): string[] {
  const unit = readFileSync(join(root, 'units/bulwark-agent.service'), 'utf8');
  const exec = /^ExecStart=\S+\s+(.*)$/m.exec(unit)?.[1] ?? '';
  return exec.split(/\s+/).filter((a) => a.startsWith('--'));
}

/** The command that runs test/integration/certs/acme-pass.mjs with `arg` in namespace `ns`, under the agent's V8 flags. */
export function acmePassArgv(ns: string, root: string, arg: string): string[] {
  return ['ip', 'netns', 'exec', ns, process.execPath, ...agentNodeFlags(root), join(root, 'test/integration/certs/acme-pass.mjs'), arg];
}
