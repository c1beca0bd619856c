import { lookup } from 'node:dns/promises';
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
  /** Addresses of apt's mirror hosts, resolved on the node (see resolveMirrors); by host. */
  mirrorAddresses?: Record<string, { addresses: string[]; error?: string }>;
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

/** apt's mirrors from `provisioning.packages` (mirrors, securityMirror): URL, host and port. Pure. */
export function aptMirrorTargets(config: Config): { url: string; host: string; port: number }[] {
  const p = config.provisioning.packages;
  const urls = [...p.mirrors, ...(p.securityMirror ? [p.securityMirror] : [])];
  return urls.map((url) => {
    const u = new URL(url);
    return { url, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
  });
}

/** getaddrinfo (as apt resolves), every address, bounded in time. */
export async function lookupAll(host: string, timeoutMs = 3000): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const r = await Promise.race([lookup(host, { all: true }), timeout]);
    return [...new Set(r.map((a) => a.address))];
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Each mirror host's addresses: an address literal as is, a name resolved now (nft cannot match names, so the
 * plan holds the addresses the node would connect to, and the agent resolves again every pass).
 */
export async function resolveMirrors(
  hosts: readonly string[],
  resolve: (host: string) => Promise<string[]> = lookupAll,
  lastGood: Map<string, string[]> = LAST_GOOD,
): Promise<Record<string, { addresses: string[]; error?: string }>> {
  const out: Record<string, { addresses: string[]; error?: string }> = {};
  for (const h of new Set(hosts)) {
    if (parseIp(h)) out[h] = { addresses: [h] };
    else {
      try {
        const addresses = (await resolve(h)).filter((a) => parseIp(a));
        if (addresses.length) lastGood.set(h, addresses);
        out[h] = { addresses };
      } catch (e) {
        // a failed lookup keeps the addresses this process last resolved (a DNS hiccup must not cut apt off)
        const kept = lastGood.get(h);
        const msg = e instanceof Error ? e.message : String(e);
        out[h] = kept ? { addresses: kept, error: `${msg}; kept the last addresses` } : { addresses: [], error: msg };
      }
    }
  }
  return out;
}

/** The agent's last successful resolution of each mirror host. */
const LAST_GOOD = new Map<string, string[]>();

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
    ...(() => {
      const targets = aptMirrorTargets(config);
      if (!targets.length) return {};
      return {
        aptMirrors: targets.map((t) => {
          const r = probe.mirrorAddresses?.[t.host];
          return { url: t.url, port: t.port, addresses: r?.addresses ?? [], ...(r?.error ? { error: r.error } : r ? {} : { error: 'not resolved' }) };
        }),
        aptMirrorsOnly: config.provisioning.packages.mirrors.length > 0,
      };
    })(),
  };
}
