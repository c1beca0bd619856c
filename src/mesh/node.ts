import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { MeshConfigError } from './addresses.js';
import { DEFAULT_MESH_ROOT } from './keystore.js';
import { MeshNode } from './runtime.js';
import { HttpTransport } from './transport.js';

/**
 * The MeshNode of this host, built from the cluster config: members limited to the nodes in the config,
 * other agents reached over HTTP on their mesh address. One per process (the agent keeps it, with its
 * wireguard-go supervisor, across reconcile passes).
 */
export function nodeMesh(config: Config, nodeName: string, opts: { root?: string; log?: Logger } = {}): MeshNode {
  if (!config.nodes.some((n) => n.name === nodeName)) throw new MeshConfigError(`node ${nodeName} is not in the config`);
  let node: MeshNode | undefined;
  const transport = new HttpTransport((n) => node?.meshAddressOf(n), config.mesh.agentPort);
  node = new MeshNode({ name: nodeName, mesh: config.mesh, root: opts.root ?? DEFAULT_MESH_ROOT, transport, ...(opts.log ? { log: opts.log } : {}) });
  return node;
}

let cached: { key: string; node: MeshNode } | undefined;
/** The process-wide node runtime for this config (rebuilt when the mesh section or the name changes). */
export function sharedNodeMesh(config: Config, nodeName: string, log?: Logger): MeshNode {
  const key = JSON.stringify([nodeName, config.mesh]);
  if (cached?.key === key) return cached.node;
  cached = { key, node: nodeMesh(config, nodeName, log ? { log } : {}) };
  return cached.node;
}
