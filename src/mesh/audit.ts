import { existsSync } from 'node:fs';
import type { AuditCheck, AuditContext, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { KeyStore, DEFAULT_MESH_ROOT } from './keystore.js';
import type { MeshNode } from './runtime.js';

/** A handshake older than this (seconds) means the peer is not talking (WireGuard rekeys every 120 s). */
export const HANDSHAKE_FRESH_SEC = 180;

/** The mesh checks, given a node runtime (its dump and keys). */
export async function meshChecks(node: MeshNode, configNodes: readonly string[], nowSec = Math.floor(Date.now() / 1000)): Promise<AuditCheck[]> {
  const checks: AuditCheck[] = [];
  if (!node.keys.initialized()) {
    return [{ id: 'mesh.joined', status: 'fail', evidence: `no mesh keys under ${node.keys.root} (node never joined: bulwark mesh join ${node.name})` }];
  }
  const modes = node.keys.secretFiles();
  const bad = modes.filter((f) => f.mode !== 0o600);
  checks.push({
    id: 'mesh.key-file-modes',
    status: bad.length ? 'fail' : 'pass',
    evidence: bad.length ? bad.map((f) => `${f.path} ${f.mode.toString(8)}`).join(', ') : `${modes.length} key files 0600`,
  });
  const link = await node.dev.linkState();
  const dump = await node.dev.dump();
  if (configNodes.every((n) => n === node.name)) {
    // the agent brings the interface up once there is a peer to mesh with
    checks.push({ id: 'mesh.interface-up', status: 'n/a', evidence: `a one-node cluster: no peer to mesh with, so no ${node.dev.iface} is needed` });
  } else {
    checks.push({
      id: 'mesh.interface-up',
      status: link?.up && dump ? 'pass' : 'fail',
      evidence: link ? `${node.dev.iface} ${link.up ? 'up' : 'down'} mtu ${link.mtu} ${link.addresses.join(' ')}` : `${node.dev.iface} missing`,
    });
  }
  const peers = node.peers().filter((p) => configNodes.includes(p.name));
  const missing: string[] = [];
  const stale: string[] = [];
  for (const p of peers) {
    const a = dump?.peers.find((x) => x.publicKey === p.publicKey);
    if (!a) missing.push(p.name);
    else if (a.latestHandshake === 0 || nowSec - a.latestHandshake > HANDSHAKE_FRESH_SEC) stale.push(`${p.name} (${a.latestHandshake ? `${nowSec - a.latestHandshake}s ago` : 'never'})`);
  }
  const unconfigured = configNodes.filter((n) => n !== node.name && !peers.some((p) => p.name === n));
  checks.push({
    id: 'mesh.peers-present',
    status: missing.length || stale.length || unconfigured.length ? 'fail' : 'pass',
    evidence:
      [missing.length ? `missing: ${missing.join(', ')}` : '', stale.length ? `no recent handshake: ${stale.join(', ')}` : '', unconfigured.length ? `never joined: ${unconfigured.join(', ')}` : '']
        .filter(Boolean)
        .join('; ') || `${peers.length} peers, every one with a handshake in the last ${HANDSHAKE_FRESH_SEC}s`,
  });
  const known = new Set(peers.map((p) => p.publicKey));
  const strangers = (dump?.peers ?? []).filter((p) => !known.has(p.publicKey));
  checks.push({
    id: 'mesh.no-foreign-peers',
    status: strangers.length ? 'fail' : 'pass',
    evidence: strangers.length ? `peers not in the config: ${strangers.map((p) => `${p.publicKey.slice(0, 8)}… ${p.endpoint ?? ''}`).join(', ')}` : 'every peer is a configured node',
  });
  return checks;
}

export const meshAuditProvider: AuditProvider<Config> = {
  name: 'mesh',
  async run(ctx: AuditContext<Config>): Promise<AuditCheck[]> {
    if (!existsSync(DEFAULT_MESH_ROOT) || !new KeyStore().initialized()) {
      return [{ id: 'mesh.joined', status: 'fail', evidence: `no mesh keys under ${DEFAULT_MESH_ROOT} (bulwark mesh join ${ctx.nodeName})` }];
    }
    const { nodeMesh } = await import('./node.js');
    const node = nodeMesh(ctx.config, ctx.nodeName);
    node.init();
    return meshChecks(
      node,
      ctx.config.nodes.map((n) => n.name),
    );
  },
};
