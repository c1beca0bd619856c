import { readFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import { inCidr } from './collect.js';

/** What the firewall plan accepts as new connections (the firewall's InputAllow, sources as text). */
export interface PortAllow {
  id: string;
  proto: 'tcp' | 'udp';
  ports: readonly (readonly [number, number])[];
  /** null: any source. */
  from: readonly string[] | null;
  iifname?: string;
}

/** An IPv6 address as the kernel shows it in /proc (32 hex digits, host-order words) → its short text form. */
function v6Text(groups: string[]): string {
  const host = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (m) {
    const hi = parseInt(m[1] as string, 16);
    const lo = parseInt(m[2] as string, 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return host;
}

/** Local addresses with a TCP socket listening on `port`, from /proc/net/tcp and /proc/net/tcp6 text. Pure. */
export function listeningOn(procNetTcp: string, procNetTcp6: string, port: number): string[] {
  const out: string[] = [];
  const rows = (text: string) =>
    text
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 3 && f[3] === '0A');
  for (const f of rows(procNetTcp)) {
    const [hex = '', p = ''] = (f[1] ?? '').split(':');
    if (parseInt(p, 16) !== port || hex.length !== 8) continue;
    const n = parseInt(hex, 16);
    out.push([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.'));
  }
  for (const f of rows(procNetTcp6)) {
    const [hex = '', p = ''] = (f[1] ?? '').split(':');
    if (parseInt(p, 16) !== port || hex.length !== 32) continue;
    // four 32-bit words, each in host (little-endian) order
    const bytes: string[] = [];
    for (let w = 0; w < 4; w++) for (let b = 3; b >= 0; b--) bytes.push(hex.slice(w * 8 + b * 2, w * 8 + b * 2 + 2));
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push(`${bytes[i]}${bytes[i + 1]}`);
    out.push(v6Text(groups));
  }
  return out;
}

/**
 * Is the metrics port reachable from the public side? Fails when the firewall plan accepts it from any
 * source (or from a network holding the node's public endpoint), or when something listens on it on a
 * wildcard or on the public endpoint. Pure.
 */
export function metricsExposure(port: number, allows: readonly PortAllow[], listening: readonly string[], endpoint: string | undefined): AuditCheck {
  const problems: string[] = [];
  const holds = (c: string) => endpoint !== undefined && inCidr(endpoint, c);
  for (const a of allows) {
    if (a.proto !== 'tcp' || !a.ports.some(([lo, hi]) => lo <= port && port <= hi)) continue;
    if (a.from === null) problems.push(`firewall rule ${a.id} accepts tcp/${port} from any source`);
    else if (!a.iifname && a.from.some(holds)) problems.push(`firewall rule ${a.id} accepts tcp/${port} from ${a.from.filter(holds).join(', ')}, which holds the public endpoint`);
  }
  for (const l of listening) {
    if (l === '0.0.0.0' || l === '::') problems.push(`something listens on tcp/${port} on every address (${l})`);
    else if (endpoint && l === endpoint) problems.push(`something listens on tcp/${port} on the public endpoint ${l}`);
  }
  return {
    id: 'metrics.not-public',
    status: problems.length ? 'fail' : 'pass',
    evidence: problems.length ? problems.join('; ') : `tcp/${port}: management networks and the mesh only; listening on ${listening.length ? listening.join(', ') : 'nothing'}`,
  };
}

const readOr = (p: string) => readFile(p, 'utf8').catch(() => '');

/**
 * The metrics listener's audit: the port is not open to the public side (plan and live listeners). `allows`
 * is the firewall plan's view for this node (handed in by the composition root, src/cli/plugins.ts).
 */
export function metricsAudit(allows: (config: Config, nodeName: string) => Promise<PortAllow[]>, proc = '/proc/net'): AuditProvider<Config> {
  return {
    name: 'metrics',
    async run(ctx): Promise<AuditCheck[]> {
      const m = ctx.config.metrics;
      if (!m.enabled) return [{ id: 'metrics.not-public', status: 'n/a', evidence: 'metrics.enabled is false' }];
      const listening = listeningOn(await readOr(`${proc}/tcp`), await readOr(`${proc}/tcp6`), m.port);
      return [metricsExposure(m.port, await allows(ctx.config, ctx.nodeName), listening, ctx.config.nodes.find((n) => n.name === ctx.nodeName)?.endpoint)];
    },
  };
}
