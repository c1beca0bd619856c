import { run } from '../util/exec.js';
import type { MeshNode } from './runtime.js';

export interface PeerStatus {
  name: string;
  /** Endpoint WireGuard uses now (may be a roamed one), else the configured one. */
  endpoint: string | null;
  meshAddress: string;
  /** Seconds since the last handshake, null for never. */
  handshakeAgeSec: number | null;
  rxBytes: string;
  txBytes: string;
  present: boolean;
  /** Answered a ping across the mesh just now. */
  reachable: boolean;
}

export interface NodeMeshStatus {
  node: string;
  interface: string;
  up: boolean;
  meshAddress: string;
  backend?: string;
  peers: PeerStatus[];
  summary: string;
}

/** Looks at bw0 and probes every peer with one ping across the mesh. */
export async function nodeStatus(node: MeshNode, nowSec = Math.floor(Date.now() / 1000)): Promise<NodeMeshStatus> {
  const dump = await node.dev.dump();
  const link = await node.dev.linkState();
  const peers = await Promise.all(
    node.peers().map(async (p): Promise<PeerStatus> => {
      const a = dump?.peers.find((x) => x.publicKey === p.publicKey);
      const probe = await run(['ping', '-c', '1', '-W', '1', '-n', '-q', p.meshAddress], node.opts.netns ? { netns: node.opts.netns } : {});
      return {
        name: p.name,
        endpoint: a?.endpoint ?? p.endpoint,
        meshAddress: p.meshAddress,
        handshakeAgeSec: a && a.latestHandshake > 0 ? Math.max(0, nowSec - a.latestHandshake) : null,
        rxBytes: String(a?.rxBytes ?? 0n),
        txBytes: String(a?.txBytes ?? 0n),
        present: Boolean(a),
        reachable: probe.code === 0,
      };
    }),
  );
  const ok = peers.filter((p) => p.reachable).length;
  return {
    node: node.name,
    interface: node.dev.iface,
    up: Boolean(link?.up && dump),
    meshAddress: node.meshAddressOf(node.name) ?? '',
    ...(node.backend ? { backend: node.backend } : {}),
    peers,
    summary: `${node.name}: ${link?.up ? 'up' : 'DOWN'}, ${ok}/${peers.length} peers reachable`,
  };
}

function age(s: number | null): string {
  if (s === null) return 'never';
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** Human table for `mesh status`. Pure. */
export function renderStatus(nodes: readonly NodeMeshStatus[]): string {
  const lines: string[] = [];
  for (const n of nodes) {
    lines.push(`${n.node}  ${n.interface} ${n.up ? 'up' : 'DOWN'}  ${n.meshAddress}`);
    for (const p of n.peers) {
      lines.push(
        `  ${p.name.padEnd(10)} ${(p.endpoint ?? '-').padEnd(22)} ${p.meshAddress.padEnd(15)} handshake ${age(p.handshakeAgeSec).padEnd(10)} rx ${p.rxBytes} tx ${p.txBytes}  ${p.reachable ? 'reachable' : 'UNREACHABLE'}`,
      );
    }
  }
  const total = nodes.reduce((a, n) => a + n.peers.length, 0);
  const ok = nodes.reduce((a, n) => a + n.peers.filter((p) => p.reachable).length, 0);
  lines.push(`${nodes.length} nodes, ${ok}/${total} peer links reachable${ok === total && nodes.every((n) => n.up) ? '' : ' (PROBLEMS)'}`);
  return lines.join('\n') + '\n';
}
