import { readFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { DEFAULT_MESH_ROOT, FABRIC_ROUTES_FILE, MEMBERS_FILE } from '../config/locate.js';
import { parseIp } from './cidr.js';
import type { FirewallFactsInput } from './facts.js';

/** What only the node itself can tell: its resolvers, apt's user and its mesh members. */
export interface NodeProbe {
  resolvers: string[];
  aptUid?: number;
  /**
   * The mesh's member list on this node (written when the node joins; a removed node is dropped from it).
   * When present it, not the config, decides which endpoints may send WireGuard packets.
   */
  meshMembers?: { name: string; endpoint: string }[];
  /** The fabric's route list (written by src/fabric when this node runs NATS): port and peers' mesh addresses. */
  fabricRoutes?: { port: number; peers: string[] };
}

/** Port and peer addresses in the fabric's routes.json text; undefined when unreadable. Pure. */
export function parseFabricRoutes(text: string): { port: number; peers: string[] } | undefined {
  try {
    const r = JSON.parse(text) as { port?: unknown; peers?: unknown };
    if (typeof r.port !== 'number' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535 || !Array.isArray(r.peers)) return undefined;
    const peers = (r.peers as { address?: unknown }[]).flatMap((p) => (typeof p?.address === 'string' && parseIp(p.address) ? [p.address] : []));
    return { port: r.port, peers };
  } catch {
    return undefined;
  }
}

/** The mesh's member list on this node. */
export const MESH_MEMBERS = `${DEFAULT_MESH_ROOT}/${MEMBERS_FILE}`;

/** Name and endpoint of each member in the mesh's members.json text; undefined when unreadable. Pure. */
export function parseMeshMembers(text: string): { name: string; endpoint: string }[] | undefined {
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return undefined;
    const out: { name: string; endpoint: string }[] = [];
    for (const m of list as Record<string, unknown>[]) {
      if (typeof m?.name === 'string' && typeof m.endpoint === 'string' && parseIp(m.endpoint)) out.push({ name: m.name, endpoint: m.endpoint });
    }
    return out;
  } catch {
    return undefined;
  }
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
  const members = await readOr(p(MESH_MEMBERS));
  const routes = await readOr(p(FABRIC_ROUTES_FILE));
  return {
    resolvers,
    aptUid: uidOf(await readOr(p('/etc/passwd')), '_apt'),
    meshMembers: members ? parseMeshMembers(members) : undefined,
    ...(routes ? { fabricRoutes: parseFabricRoutes(routes) } : {}),
  };
}

/** Cluster config + this node's name + probe → the planner's facts. Pure. */
export function factsFromConfig(config: Config, nodeName: string, probe: NodeProbe): FirewallFactsInput {
  const self = config.nodes.find((n) => n.name === nodeName);
  return {
    self: { name: nodeName, endpoint: self?.endpoint },
    // Before the node joins the mesh: every configured node; after: the members it knows (so `mesh remove`
    // closes the removed node's endpoint even while it is still in the config).
    peers: (probe.meshMembers ?? config.nodes).filter((n) => n.name !== nodeName).map((n) => ({ name: n.name, endpoint: n.endpoint })),
    meshCidr: config.mesh.cidr,
    meshInterface: config.mesh.interface,
    meshPort: config.mesh.agentPort,
    wgPort: config.mesh.port,
    ...(config.metrics.enabled ? { metricsPort: config.metrics.port } : {}),
    ...(probe.fabricRoutes?.peers.length ? { fabricRoutes: probe.fabricRoutes } : {}),
    resolvers: probe.resolvers,
    aptUid: probe.aptUid,
    httpRedirect: config.router.listeners.some((l) => l.type === 'redirect'),
  };
}
