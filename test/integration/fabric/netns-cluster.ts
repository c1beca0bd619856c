import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { run, runOk } from '../../../src/util/exec.js';
import { tempDir } from '../router/helpers.js';
import { fabricRealm, PUBLIC_HASH } from './local-cluster.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface NodeProcs {
  nats?: ChildProcess;
  router?: ChildProcess;
  proxy?: ChildProcess;
}

/**
 * Three network namespaces on one bridge (198.51.100.11-13/24), each a node: a nats-server (client port on
 * the namespace's 127.0.0.1:4222, nkey user for the router limited to bulwark.> + JetStream, cluster
 * routes on 198.51.100.1x:6222, JetStream), and a router process (`node dist/src/cli/main.js router`)
 * whose WAMP listeners are Unix sockets in a temp directory (reachable from the test's own namespace).
 * Node 3 reaches nats-server through a Unix socket (systemd-socket-proxyd, as the host side sets it up),
 * its router config says `fabric.nats.socket`. Everything is removed by `down()`, also after a failure.
 */
export class NetnsCluster {
  readonly tmp = tempDir('bwt-fabric-ns-');
  readonly procs = new Map<number, NodeProcs>();
  readonly prefix = 'bwt-fab';
  private seedFile = '';
  private userKey = '';

  /** Node 3's way to its nats-server (systemd-socket-proxyd to 127.0.0.1:4222 in its namespace). */
  get natsSocket(): string {
    return join(this.tmp.dir, 'n3-nats.sock');
  }

  ns(i: number): string {
    return `${this.prefix}-n${i}`;
  }
  addr(i: number): string {
    return `198.51.100.${10 + i}`;
  }
  /** The router's RawSocket (anonymous = backend, ticket pub/pub-secret = public) of node i. */
  sock(i: number): string {
    return join(this.tmp.dir, `n${i}.sock`);
  }
  /** The python component socket (component pybackend, role backend) of node i. */
  pySock(i: number): string {
    return join(this.tmp.dir, `n${i}-py.sock`);
  }
  log(i: number, what: 'router' | 'nats'): string {
    return join(this.tmp.dir, `n${i}-${what}.log`);
  }

  private timing: { heartbeatMs?: number; deadAfterMs?: number } = {};

  async up(opts: { heartbeatMs?: number; deadAfterMs?: number } = {}): Promise<void> {
    this.timing = opts;
    await this.cleanupNamespaces();
    const br = `${this.prefix}-br`;
    await runOk(['ip', 'netns', 'add', br]);
    await runOk(['ip', '-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', br, 'link', 'set', 'br0', 'up']);
    const user = nkeys.createUser();
    this.userKey = user.getPublicKey();
    this.seedFile = join(this.tmp.dir, 'router.nk');
    writeFileSync(this.seedFile, new TextDecoder().decode(user.getSeed()) + '\n', { mode: 0o600 });
    chmodSync(this.seedFile, 0o600);
    for (const i of [1, 2, 3]) {
      const ns = this.ns(i);
      await runOk(['ip', 'netns', 'add', ns]);
      await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      await runOk(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', br]);
      await runOk(['ip', '-n', br, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      await runOk(['ip', '-n', ns, 'address', 'add', `${this.addr(i)}/24`, 'dev', 'eth0']);
      await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    for (const i of [1, 2, 3]) this.startNats(i);
    for (const i of [1, 2, 3]) await this.waitNats(i);
    for (const i of [1, 2, 3]) this.startRouter(i, opts);
    for (const i of [1, 2, 3]) await waitFile(this.sock(i), 15_000);
  }

  startNats(i: number): void {
    const dir = join(this.tmp.dir, `nats-n${i}`);
    mkdirSync(dir, { recursive: true });
    const routes = [1, 2, 3].filter((j) => j !== i).map((j) => `"nats-route://${this.addr(j)}:6222"`);
    const conf = `server_name: n${i}
listen: 127.0.0.1:4222
authorization {
  users: [{ nkey: ${this.userKey}, permissions: { publish: ["bulwark.>", "$JS.API.>", "$KV.>", "_INBOX.>"], subscribe: ["bulwark.>", "_INBOX.>"] } }]
}
cluster { name: bulwark, listen: "${this.addr(i)}:6222", routes: [${routes.join(', ')}], connect_retries: 120 }
jetstream { store_dir: "${join(dir, 'js')}" }
`;
    writeFileSync(join(dir, 'nats.conf'), conf);
    const out = openSync(this.log(i, 'nats'), 'a');
    const procs = this.procs.get(i) ?? {};
    procs.nats = spawn('ip', ['netns', 'exec', this.ns(i), 'nats-server', '-c', join(dir, 'nats.conf')], { stdio: ['ignore', out, out] });
    if (i === 3) {
      const sock = this.natsSocket;
      procs.proxy = spawn('ip', ['netns', 'exec', this.ns(i), 'systemd-socket-activate', '-l', sock, '/lib/systemd/systemd-socket-proxyd', '127.0.0.1:4222'], { stdio: ['ignore', out, out] });
    }
    this.procs.set(i, procs);
  }

  async waitNats(i: number): Promise<void> {
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      const r = await run(['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/4222'], { netns: this.ns(i) });
      if (r.code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nats-server of n${i} did not come up (see ${this.log(i, 'nats')})`);
  }

  startRouter(i: number, opts: { heartbeatMs?: number; deadAfterMs?: number } = {}): void {
    const cfg = {
      realms: [fabricRealm()],
      listeners: [
        { type: 'rawsocket', path: this.sock(i), auth: ['anonymous', 'ticket'] },
        { type: 'rawsocket', path: this.pySock(i), component: 'pybackend' },
      ],
      components: [{ name: 'pybackend', realm: 'app', role: 'backend' }],
      auth: { anonymous: { role: 'backend' }, ticket: [{ authid: 'pub', realm: 'app', role: 'public', hash: PUBLIC_HASH }] },
      fabric: {
        node: `n${i}`,
        nats: i === 3 ? { socket: this.natsSocket, nkeySeedFile: this.seedFile } : { url: 'nats://127.0.0.1:4222', nkeySeedFile: this.seedFile },
        heartbeatMs: opts.heartbeatMs ?? 200,
        deadAfterMs: opts.deadAfterMs ?? 1500,
      },
    };
    const file = join(this.tmp.dir, `n${i}-router.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const out = openSync(this.log(i, 'router'), 'a');
    const procs = this.procs.get(i) ?? {};
    procs.router = spawn('ip', ['netns', 'exec', this.ns(i), process.execPath, CLI, 'router', '--config', file], { stdio: ['ignore', out, out] });
    this.procs.set(i, procs);
  }

  /** SIGKILL of node i's router and nats-server (and its socket proxy). */
  async kill(i: number): Promise<void> {
    const p = this.procs.get(i);
    await Promise.all([p?.router, p?.nats, p?.proxy].map((c) => killWait(c, 'SIGKILL')));
  }

  /** Starts node i's nats-server and router again (after kill), waiting for the router's socket. */
  async restart(i: number): Promise<void> {
    rmSync(this.sock(i), { force: true });
    rmSync(this.pySock(i), { force: true });
    this.startNats(i);
    await this.waitNats(i);
    this.startRouter(i, this.timing);
    await waitFile(this.sock(i), 15_000);
  }

  /** Drops every packet on node i's link (nftables in its namespace); heal() removes the table. */
  async partition(i: number): Promise<void> {
    const rules = [
      'table inet bwtfab {',
      '  chain in { type filter hook input priority -10; policy accept; iifname "eth0" drop; }',
      '  chain out { type filter hook output priority -10; policy accept; oifname "eth0" drop; }',
      '}',
      '',
    ].join('\n');
    await runOk(['nft', '-f', '-'], { netns: this.ns(i), stdin: rules });
  }

  async heal(i: number): Promise<void> {
    await runOk(['nft', 'delete', 'table', 'inet', 'bwtfab'], { netns: this.ns(i) });
  }

  routerLog(i: number): string {
    return existsSync(this.log(i, 'router')) ? readFileSync(this.log(i, 'router'), 'utf8') : '';
  }

  async down(): Promise<void> {
    for (const p of this.procs.values()) await Promise.all([p.router, p.proxy, p.nats].map((c) => killWait(c, 'SIGKILL')));
    await this.cleanupNamespaces();
    this.tmp.cleanup();
  }

  async cleanupNamespaces(): Promise<void> {
    const r = await run(['ip', 'netns', 'list']);
    const mine = r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${this.prefix}-`));
    for (const ns of mine) await run(['ip', 'netns', 'delete', ns]);
  }
}

function killWait(c: ChildProcess | undefined, sig: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill(sig);
  });
}

async function waitFile(path: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
