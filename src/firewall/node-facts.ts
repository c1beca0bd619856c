import { readFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { parseIp } from './cidr.js';
import type { FirewallFactsInput } from './facts.js';

/** What only the node itself can tell: its resolvers and apt's user. */
export interface NodeProbe {
  resolvers: string[];
  aptUid?: number;
}

/** `nameserver` lines of resolv.conf text. Pure. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const addr = m?.[1]?.replace(/%.*$/, '');
    if (addr && parseIp(addr) && !out.includes(addr)) out.push(addr);
  }
  return out;
}

/** uid of a user in /etc/passwd text. Pure. */
export function uidOf(passwd: string, user: string): number | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

async function readOr(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** Reads the node's resolvers (resolv.conf and systemd-resolved's upstreams) and apt's uid. `root` for tests. */
export async function probeNode(root = '/'): Promise<NodeProbe> {
  const p = (f: string) => `${root.replace(/\/$/, '')}${f}`;
  const resolvers = [...new Set([...parseResolvConf(await readOr(p('/etc/resolv.conf'))), ...parseResolvConf(await readOr(p('/run/systemd/resolve/resolv.conf')))])];
  return { resolvers, aptUid: uidOf(await readOr(p('/etc/passwd')), '_apt') };
}

/** Cluster config + this node's name + probe → the planner's facts. Pure. */
export function factsFromConfig(config: Config, nodeName: string, probe: NodeProbe): FirewallFactsInput {
  const self = config.nodes.find((n) => n.name === nodeName);
  return {
    self: { name: nodeName, endpoint: self?.endpoint },
    peers: config.nodes.filter((n) => n.name !== nodeName).map((n) => ({ name: n.name, endpoint: n.endpoint })),
    meshCidr: config.mesh.cidr,
    meshInterface: config.mesh.interface,
    meshPort: config.mesh.agentPort,
    wgPort: config.mesh.port,
    resolvers: probe.resolvers,
    aptUid: probe.aptUid,
    httpRedirect: config.router.listeners.some((l) => l.type === 'redirect'),
  };
}
