import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRouteCert } from '../../../src/fabric/keys.js';
import { renderNatsConfig, ROUTER_PUBLISH_DENY, ROUTER_SUBJECTS } from '../../../src/fabric/render.js';
import { routeStates, routezSchema } from '../../../src/fabric/routez.js';
import { run, runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs, waitFor } from '../firewall/netns.js';

// Real nats-server (Debian's 2.9) with the rendered config, one per namespace, the namespaces joined by a
// bridge as if by the mesh: n1..n3 at 198.51.100.21-23 on an interface named bw0 form a cluster over
// mutual TLS with pinned certificates; n4 (.24) has a certificate nobody pinned. Each server's client
// port is on its own 127.0.0.1 only.
const SW = 'bwt-nats-sw';
const NODES = ['n1', 'n2', 'n3', 'n4'] as const;
type Node = (typeof NODES)[number];
const ns = (n: Node) => `bwt-nats-${n}`;
const addr = (n: Node) => `198.51.100.${21 + NODES.indexOf(n)}`;
const CLIENT = fileURLToPath(new URL('./nats-client.mjs', import.meta.url));
const MON = 8222;
const work = mkdtempSync(join(tmpdir(), 'bulwark-fabric-'));
const servers = new Map<Node, ChildProcess>();
const logs = new Map<Node, string[]>();
const seed = join(work, 'router.nk');
const router = createUser();
writeFileSync(seed, router.getSeed(), { mode: 0o600 });

const dir = (n: Node) => join(work, n);
/** Each node's config: routes to `peers`, and a CA bundle of its own and the peers' certificates. */
function writeConf(n: Node, peers: readonly Node[]): void {
  const d = dir(n);
  writeFileSync(join(d, 'peers.pem'), [n, ...peers].map((p) => readFileSync(join(dir(p), 'route.crt'), 'utf8').trim()).join('\n') + '\n');
  writeFileSync(
    join(d, 'nats.conf'),
    renderNatsConfig({
      serverName: n,
      clusterName: 'bulwark-test',
      monitorPort: MON,
      routeHost: addr(n),
      routePort: 6222,
      routes: peers.map(addr),
      tls: { cert: join(d, 'route.crt'), key: join(d, 'route.key'), ca: join(d, 'peers.pem') },
      users: [{ nkey: router.getPublicKey(), publish: ROUTER_SUBJECTS, subscribe: ROUTER_SUBJECTS, publishDeny: ROUTER_PUBLISH_DENY }],
      jetstream: { storeDir: join(d, 'js'), maxMemoryStore: 64 << 20, maxFileStore: 64 << 20 },
    }),
  );
}

function start(n: Node): void {
  const child = spawn('ip', ['netns', 'exec', ns(n), 'nats-server', '-c', join(dir(n), 'nats.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  logs.set(n, log);
  child.stdout?.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => log.push(b.toString()));
  servers.set(n, child);
}

async function monitor(n: Node, path: string): Promise<unknown> {
  const r = await run(['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${MON}${path}`], { netns: ns(n), timeoutMs: 5000 });
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}
async function routesUp(n: Node): Promise<string[]> {
  const rz = routezSchema.safeParse(await monitor(n, '/routez'));
  if (!rz.success) return [];
  return routeStates(
    NODES.filter((p) => p !== n).map((p) => ({ name: p, address: addr(p) })),
    rz.data,
  )
    .filter((s) => s.up)
    .map((s) => s.name)
    .sort();
}
const until = (n: Node, want: string[], ms = 15_000) => waitFor(async () => JSON.stringify(await routesUp(n)) === JSON.stringify(want), ms, 200);

async function client(n: Node, host: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await runOk([process.execPath, CLIENT, host, '4222', ...args], { netns: ns(n), timeoutMs: 20_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

describe('nats-server with the rendered config, in namespaces', () => {
  beforeAll(async () => {
    await addNetns(SW);
    await inNs(SW, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    await inNs(SW, 'ip', 'link', 'set', 'br0', 'up');
    for (const n of NODES) {
      await addNetns(ns(n));
      await runOk(['ip', 'link', 'add', 'bw0', 'netns', ns(n), 'type', 'veth', 'peer', 'name', `sw-${n}`, 'netns', SW]);
      await inNs(ns(n), 'ip', 'addr', 'add', `${addr(n)}/24`, 'dev', 'bw0');
      await inNs(ns(n), 'ip', 'link', 'set', 'bw0', 'up');
      await inNs(SW, 'ip', 'link', 'set', `sw-${n}`, 'master', 'br0');
      await inNs(SW, 'ip', 'link', 'set', `sw-${n}`, 'up');
      mkdirSync(join(dir(n), 'js'), { recursive: true });
      await makeRouteCert(join(dir(n), 'route.crt'), join(dir(n), 'route.key'), addr(n), n);
    }
    // n1 and n2 first; n3 joins later (a mesh join); n4 is nobody's member
    writeConf('n1', ['n2']);
    writeConf('n2', ['n1']);
    writeConf('n3', ['n1', 'n2']);
    writeConf('n4', ['n1', 'n2']);
    start('n1');
    start('n2');
  }, 60_000);

  afterAll(async () => {
    for (const c of servers.values()) c.kill('SIGKILL');
    await delNetns(...NODES.map(ns), SW);
    rmSync(work, { recursive: true, force: true });
  });

  it('two members form a route over mutual TLS', async () => {
    expect(await until('n1', ['n2']), (logs.get('n1') ?? []).join('')).toBe(true);
    expect(await until('n2', ['n1'])).toBe(true);
    const rz = (await monitor('n1', '/routez')) as { routes: { ip: string; rtt?: string }[] };
    expect(rz.routes[0]?.ip).toBe(addr('n2'));
  });

  it('a member added to the config joins on SIGHUP (reload), without restarting the others', async () => {
    const pid = servers.get('n1')?.pid;
    const loaded = ((await monitor('n1', '/varz')) as { config_load_time: string }).config_load_time;
    writeConf('n1', ['n2', 'n3']);
    writeConf('n2', ['n1', 'n3']);
    start('n3');
    // n3 is refused until the others pin its certificate: reload them
    for (const n of ['n1', 'n2'] as const) await runOk(['kill', '-HUP', String(servers.get(n)?.pid)]);
    expect(await until('n3', ['n1', 'n2'], 20_000), (logs.get('n3') ?? []).join('').slice(-2000)).toBe(true);
    expect(await until('n1', ['n2', 'n3'])).toBe(true);
    expect(servers.get('n1')?.pid).toBe(pid);
    expect(((await monitor('n1', '/varz')) as { config_load_time: string }).config_load_time).not.toBe(loaded);
  }, 40_000);

  it('a server whose certificate is not pinned is refused as a route', async () => {
    start('n4');
    await new Promise((r) => setTimeout(r, 4000));
    expect(await routesUp('n4')).toEqual([]);
    expect(await routesUp('n1')).toEqual(['n2', 'n3']);
    expect((logs.get('n1') ?? []).join('') + (logs.get('n4') ?? []).join('')).toMatch(/TLS|certificate/i);
  }, 20_000);

  it('authenticated clients on different nodes exchange bulwark.> messages across the routes; other subjects are refused', async () => {
    const sub = spawn('ip', ['netns', 'exec', ns('n1'), process.execPath, CLIENT, '127.0.0.1', '4222', seed, 'sub', 'bulwark.test.x', '1', '8000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sub.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => sub.on('exit', () => r()));
    expect(await waitFor(async () => out.includes('ready'), 8000)).toBe(true);
    // interest propagates over the route before the publish
    await new Promise((r) => setTimeout(r, 500));
    expect(await client('n3', '127.0.0.1', seed, 'pub', 'bulwark.test.x', 'hello-from-n3')).toEqual({ result: 'PONG' });
    await exited;
    expect(JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}')).toEqual({ messages: ['hello-from-n3'] });
    expect(String((await client('n3', '127.0.0.1', seed, 'pub', 'other.subject', 'x')).result)).toMatch(/Permissions Violation/);
    // inside $JS.>, the administrative APIs of CVE-2025-30215 / CVE-2026-33222 are denied
    expect(String((await client('n3', '127.0.0.1', seed, 'pub', '$JS.API.ACCOUNT.PURGE.x', 'x')).result)).toMatch(/Permissions Violation/);
    expect(String((await client('n3', '127.0.0.1', seed, 'pub', '$JS.API.SERVER.REMOVE', 'x')).result)).toMatch(/Permissions Violation/);
    expect(await client('n3', '127.0.0.1', seed, 'pub', '$JS.API.INFO', '')).toEqual({ result: 'PONG' });
  }, 30_000);

  it('an unauthenticated client on 127.0.0.1 is refused', async () => {
    expect(String((await client('n1', '127.0.0.1', '-', 'anon')).result)).toMatch(/Authorization Violation/);
    expect(String((await client('n1', '127.0.0.1', '-', 'pub', 'bulwark.x', 'y')).result)).toMatch(/Authorization Violation/);
  });

  it("the client port is not reachable from another namespace, nor on the node's own mesh address", async () => {
    expect(String((await client('n2', addr('n1'), seed, 'pub', 'bulwark.x', 'y')).result)).toMatch(/connect failed: ECONNREFUSED/);
    expect(String((await client('n1', addr('n1'), seed, 'pub', 'bulwark.x', 'y')).result)).toMatch(/connect failed: ECONNREFUSED/);
  });

  it('a member removed from the config is refused once the others restart (what the agent does on a removal)', async () => {
    writeConf('n1', ['n2']);
    writeConf('n2', ['n1']);
    for (const n of ['n1', 'n2'] as const) {
      const c = servers.get(n);
      const exited = new Promise<void>((r) => c?.once('exit', () => r()));
      c?.kill('SIGINT');
      await exited;
      start(n);
    }
    // n3 still runs and keeps dialling with its old configuration: its certificate is no longer pinned
    expect(await until('n1', ['n2'], 20_000), (logs.get('n1') ?? []).join('').slice(-3000)).toBe(true);
    expect(await until('n3', [], 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await routesUp('n1')).toEqual(['n2']);
  }, 60_000);
});
