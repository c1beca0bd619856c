import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runOk } from '../../../src/util/exec.js';
import type { MemberFacts } from '../../../src/mesh/members.js';
import { MeshNode } from '../../../src/mesh/runtime.js';
import { meshSchema, type MeshConfig } from '../../../src/mesh/schema.js';
import { InProcessTransport } from '../../../src/mesh/transport.js';

/**
 * Namespaces on one bridge, each a "node" with an underlay address 192.0.2.(10+i)/24 and a MeshNode whose
 * commands run via `ip netns exec`. Interface names carry a per-file prefix because wireguard-go's control
 * sockets (/var/run/wireguard/IFACE.sock) are shared by every namespace.
 */
export class MeshLab {
  readonly transport = new InProcessTransport();
  readonly nodes = new Map<string, MeshNode>();
  private readonly hosts = new Set<number>();
  private readonly dirs: string[] = [];

  constructor(
    /** Namespace prefix, e.g. "bwt-mm" (names become bwt-mm-br, bwt-mm-n1). */
    readonly prefix: string,
    /** Interface prefix, short and unique per file, e.g. "bwmm" (bwmm1 …). */
    readonly ifPrefix: string,
    readonly meshOverrides: Partial<MeshConfig> = {},
  ) {}

  ns(i: number): string {
    return `${this.prefix}-n${i}`;
  }
  endpoint(i: number): string {
    return `192.0.2.${10 + i}`;
  }

  async setup(): Promise<void> {
    await this.cleanupNamespaces();
    const br = `${this.prefix}-br`;
    await runOk(['ip', 'netns', 'add', br]);
    await runOk(['ip', '-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', br, 'link', 'set', 'br0', 'up']);
  }

  async addHost(i: number): Promise<void> {
    const ns = this.ns(i);
    const br = `${this.prefix}-br`;
    await runOk(['ip', 'netns', 'add', ns]);
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await runOk(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', br]);
    await runOk(['ip', '-n', br, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
    await runOk(['ip', '-n', ns, 'address', 'add', `${this.endpoint(i)}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    this.hosts.add(i);
  }

  /** A node runtime with fresh keys in a temp directory (0700). */
  async addNode(i: number): Promise<MeshNode> {
    if (!this.hosts.has(i)) await this.addHost(i);
    const root = mkdtempSync(join(tmpdir(), `${this.prefix}-n${i}-`));
    this.dirs.push(root);
    const mesh = meshSchema.parse({ ...this.meshOverrides, interface: `${this.ifPrefix}${i}` });
    const node = new MeshNode({ name: `n${i}`, mesh, root: join(root, 'mesh'), netns: this.ns(i), transport: this.transport, backend: 'auto' });
    node.init();
    this.nodes.set(node.name, node);
    this.transport.nodes.set(node.name, node);
    return node;
  }

  node(name: string): MeshNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  facts(): MemberFacts[] {
    return [...this.nodes.values()].map((n) => n.facts(this.endpoint(Number(n.name.slice(1)))));
  }

  /** Gives every node the current member list and brings/keeps every interface up. */
  async converge(): Promise<void> {
    const facts = this.facts();
    for (const n of this.nodes.values()) n.setMembers(facts);
    await Promise.all([...this.nodes.values()].map(async (n) => ((await n.dev.exists()) ? n.converge() : n.up())));
  }

  async ping(from: string, to: string, waitSec = 1): Promise<boolean> {
    const src = this.node(from);
    const addr = src.meshAddressOf(to);
    if (!addr) throw new Error(`no address for ${to}`);
    const r = await run(['ping', '-c', '1', '-W', String(waitSec), '-n', '-q', addr], { netns: src.opts.netns ?? '' });
    return r.code === 0;
  }

  /** Polls until from→to answers (true) or the time is up (false). */
  async waitPing(from: string, to: string, timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) if (await this.ping(from, to)) return true;
    return false;
  }

  /**
   * Every ordered pair of the given nodes that does not answer within the timeout. WireGuard retries a
   * lost handshake initiation every 5 s, so the default leaves room for several retries on a loaded host
   * (a CI run once saw one pair need more than 10 s while other suites kept both cores busy).
   */
  async failingPairs(names: string[] = [...this.nodes.keys()], timeoutMs = 30_000): Promise<string[]> {
    const pairs = names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b] as const));
    const res = await Promise.all(pairs.map(async ([a, b]) => ((await this.waitPing(a, b, timeoutMs)) ? null : `${a}->${b}`)));
    return res.filter((x): x is string => x !== null);
  }

  async cleanupNamespaces(): Promise<void> {
    const r = await run(['ip', 'netns', 'list']);
    const mine = r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${this.prefix}-`));
    for (const ns of mine) await run(['ip', 'netns', 'delete', ns]);
  }

  async teardown(): Promise<void> {
    for (const n of this.nodes.values()) await n.down().catch(() => undefined);
    await this.cleanupNamespaces();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}
