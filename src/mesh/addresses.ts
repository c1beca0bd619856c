import { EXIT } from '../core/command.js';
import { BulwarkError } from '../core/errors.js';
import { createHash } from 'node:crypto';

/** A mesh setting or member list that can't work (a CIDR too small, an unknown member): a config error, exit 2. */
export class MeshConfigError extends BulwarkError {
  override name = 'MeshConfigError';
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

export interface Cidr {
  network: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new MeshConfigError(`bad IPv4 address ${ip}`);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): Cidr {
  const [ip = '', p = ''] = cidr.split('/');
  const prefix = Number(p);
  if (!/^\d+$/.test(p) || prefix > 32) throw new MeshConfigError(`bad CIDR ${cidr}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToInt(ip) & mask) >>> 0, prefix };
}

/** Host addresses usable in a CIDR (network and broadcast excluded). */
export function usableHosts(c: Cidr): number {
  const size = 2 ** (32 - c.prefix);
  return size <= 2 ? 0 : size - 2;
}

export function inCidr(ip: string, c: Cidr): boolean {
  const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === c.network;
}

/** Where a node's address goes unless another node is there first: an offset in 1..hosts from its name's hash. Pure. */
export function homeOffset(name: string, hosts: number): number {
  return (createHash('sha256').update(`bulwark-mesh:${name}`).digest().readUInt32BE(0) % hosts) + 1;
}

/**
 * Mesh address of every node: pinned ones from `mesh.addresses`, the others derived from a hash of the
 * node's name (linear probing on collision, in config order). Adding or removing a node leaves the
 * others where they are (unless two names collided, which pinning settles). Pure.
 */
export function allocateAddresses(cidr: string, nodeNames: readonly string[], pinned: Readonly<Record<string, string>> = {}): Map<string, string> {
  const c = parseCidr(cidr);
  const hosts = usableHosts(c);
  if (nodeNames.length > hosts) {
    throw new MeshConfigError(`mesh.cidr ${cidr} is too small: it has ${hosts} usable addresses for ${nodeNames.length} nodes`);
  }
  const out = new Map<string, string>();
  const used = new Set<number>();
  for (const [name, ip] of Object.entries(pinned)) {
    if (!nodeNames.includes(name)) continue;
    if (!inCidr(ip, c)) throw new MeshConfigError(`mesh.addresses.${name}: ${ip} is not inside mesh.cidr ${cidr}`);
    const off = ipToInt(ip) - c.network;
    if (off === 0 || off === hosts + 1) throw new MeshConfigError(`mesh.addresses.${name}: ${ip} is the network or broadcast address of ${cidr}`);
    if (used.has(off)) throw new MeshConfigError(`mesh.addresses.${name}: ${ip} is pinned for two nodes`);
    used.add(off);
    out.set(name, ip);
  }
  for (const name of nodeNames) {
    if (out.has(name)) continue;
    let off = homeOffset(name, hosts);
    while (used.has(off)) off = (off % hosts) + 1;
    used.add(off);
    out.set(name, intToIp(c.network + off));
  }
  return out;
}
