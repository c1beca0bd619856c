import { allocateAddresses } from './addresses.js';
import type { WgPeerState } from './dump.js';
import { keysEqual } from './keys.js';
import type { MeshConfig } from './schema.js';

/** Public facts about one mesh member (what travels between nodes; no secrets). */
export interface MeshMember {
  name: string;
  /** Underlay address (the node's `endpoint` in bulwark.yaml). */
  endpoint: string;
  /** WireGuard public key. */
  publicKey: string;
}

/** Peer data for other capabilities (the firewall opens the WireGuard port to these endpoints). */
export interface MeshPeer {
  name: string;
  endpoint: string;
  meshAddress: string;
  publicKey: string;
}

export interface DesiredPeer {
  name: string;
  publicKey: string;
  /** "ip:port" or "[ip6]:port"; null to leave it to roaming. */
  endpoint: string | null;
  allowedIps: string[];
  keepalive: number | null;
  /** Pair pre-shared key, null for none. A secret. */
  psk: string | null;
}

export interface DesiredInterface {
  iface: string;
  address: string;
  prefix: number;
  listenPort: number;
  mtu: number;
  publicKey: string;
  peers: DesiredPeer[];
}

export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The mesh peers of `self` as plain data (for the firewall and status). Pure. */
export function meshPeers(mesh: MeshConfig, members: readonly MeshMember[], self?: string): MeshPeer[] {
  const addrs = allocateAddresses(
    mesh.cidr,
    members.map((m) => m.name),
    mesh.addresses,
  );
  return members.filter((m) => m.name !== self).map((m) => ({ name: m.name, endpoint: m.endpoint, meshAddress: addrs.get(m.name) ?? '', publicKey: m.publicKey }));
}

/**
 * Desired bw0 of node `self` given every member's public facts and the pair PSKs it holds. Pure.
 * Throws MeshConfigError when the CIDR is too small.
 */
export function desiredInterface(mesh: MeshConfig, members: readonly MeshMember[], self: string, psks: ReadonlyMap<string, string> = new Map()): DesiredInterface {
  const me = members.find((m) => m.name === self);
  if (!me) throw new Error(`node ${self} is not a mesh member`);
  const addrs = allocateAddresses(
    mesh.cidr,
    members.map((m) => m.name),
    mesh.addresses,
  );
  const prefix = Number(mesh.cidr.split('/')[1]);
  return {
    iface: mesh.interface,
    address: addrs.get(self) ?? '',
    prefix,
    listenPort: mesh.port,
    mtu: mesh.mtu,
    publicKey: me.publicKey,
    peers: members
      .filter((m) => m.name !== self)
      .map((m) => ({
        name: m.name,
        publicKey: m.publicKey,
        endpoint: formatEndpoint(m.endpoint, mesh.port),
        allowedIps: [`${addrs.get(m.name) ?? ''}/32`],
        keepalive: mesh.keepalive === 0 ? null : mesh.keepalive,
        psk: psks.get(m.name) ?? null,
      })),
  };
}

/** One `wg set` on one peer. Secrets (psk) are carried here but rendered to stdin, never argv. */
export type PeerOp = { kind: 'remove'; publicKey: string } | { kind: 'set'; publicKey: string; endpoint?: string; allowedIps?: string[]; keepalive?: number | null; psk?: string | null };

/** A roamed endpoint counts as drift only when the peer has been silent this long (seconds). */
export const ROAM_GRACE_SEC = 180;

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * The difference between the desired peers and `wg show dump`, as per-peer `wg set` operations.
 * Unchanged peers get no operation (their sessions stay); peers not desired are removed; an endpoint
 * learned by roaming (differs from config while the peer handshakes) is left alone. Pure.
 */
export function planPeerOps(desired: readonly DesiredPeer[], actual: readonly WgPeerState[], nowSec: number): PeerOp[] {
  const ops: PeerOp[] = [];
  const have = new Map(actual.map((p) => [p.publicKey, p]));
  const want = new Set(desired.map((d) => d.publicKey));
  for (const p of actual) if (!want.has(p.publicKey)) ops.push({ kind: 'remove', publicKey: p.publicKey });
  for (const d of desired) {
    const a = have.get(d.publicKey);
    if (!a) {
      ops.push({ kind: 'set', publicKey: d.publicKey, ...(d.endpoint ? { endpoint: d.endpoint } : {}), allowedIps: d.allowedIps, keepalive: d.keepalive, psk: d.psk });
      continue;
    }
    const op: Extract<PeerOp, { kind: 'set' }> = { kind: 'set', publicKey: d.publicKey };
    let changed = false;
    if (d.endpoint && a.endpoint !== d.endpoint) {
      const silent = a.latestHandshake === 0 || nowSec - a.latestHandshake > ROAM_GRACE_SEC;
      if (a.endpoint === null || silent) {
        op.endpoint = d.endpoint;
        changed = true;
      }
    }
    if (!sameSet(a.allowedIps, d.allowedIps)) {
      op.allowedIps = d.allowedIps;
      changed = true;
    }
    if (a.keepalive !== d.keepalive) {
      op.keepalive = d.keepalive;
      changed = true;
    }
    if (!keysEqual(a.presharedKey, d.psk)) {
      op.psk = d.psk;
      changed = true;
    }
    if (changed) ops.push(op);
  }
  return ops;
}

/**
 * argv for one peer op on `iface`. A PSK never goes on argv: the caller writes it to a 0600 file and
 * passes the path (`wg` reads it from there). Pure.
 */
export function renderPeerOp(iface: string, op: PeerOp, pskFile?: string): string[] {
  const argv = ['wg', 'set', iface, 'peer', op.publicKey];
  if (op.kind === 'remove') return [...argv, 'remove'];
  if (op.endpoint !== undefined) argv.push('endpoint', op.endpoint);
  if (op.allowedIps !== undefined) argv.push('allowed-ips', op.allowedIps.join(','));
  if (op.keepalive !== undefined) argv.push('persistent-keepalive', op.keepalive === null ? 'off' : String(op.keepalive));
  if (op.psk !== undefined) {
    if (op.psk === null) argv.push('preshared-key', '/dev/null');
    else {
      if (!pskFile) throw new Error('renderPeerOp: a PSK needs a file to travel in');
      argv.push('preshared-key', pskFile);
    }
  }
  return argv;
}
