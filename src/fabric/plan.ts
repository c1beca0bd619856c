import type { FabricConfig } from './schema.js';

/** A mesh member as the fabric sees it: its name and its address on the mesh interface. */
export interface FabricMember {
  name: string;
  address: string;
}

export type FabricPlan =
  | { active: false; reason: string }
  | {
      active: true;
      self: FabricMember;
      /** Every other member (routes go to those whose certificate this node has). */
      peers: (FabricMember & { certKnown: boolean })[];
      clusterName: string;
      routePort: number;
      meshInterface: string;
    };

export interface PlanInput {
  cluster: string;
  fabric: FabricConfig;
  meshInterface: string;
  nodeName: string;
  /** The mesh's member list on this node (undefined: not joined yet). */
  members: readonly string[] | undefined;
  /** Each member's mesh address (the mesh's allocation). */
  addresses: ReadonlyMap<string, string>;
  /** Members whose route certificate this node holds. */
  knownCerts: ReadonlySet<string>;
}

/**
 * Whether this node runs NATS and with which routes. Pure. A cluster of one (or a node not yet in the mesh)
 * runs none: the router keeps today's single-node path. The member list, not the config, decides, so
 * `mesh join` adds a route and `mesh remove` drops one.
 */
export function planFabric(i: PlanInput): FabricPlan {
  if (!i.fabric.enabled) return { active: false, reason: 'fabric.enabled is false' };
  if (!i.members?.includes(i.nodeName)) return { active: false, reason: 'not a mesh member yet' };
  if (i.members.length < 2) return { active: false, reason: 'one-node cluster: no NATS' };
  const addr = (n: string): string => {
    const a = i.addresses.get(n);
    if (!a) throw new Error(`no mesh address for ${n}`);
    return a;
  };
  const peers = [...i.members]
    .filter((n) => n !== i.nodeName)
    .sort()
    .map((name) => ({ name, address: addr(name), certKnown: i.knownCerts.has(name) }));
  return {
    active: true,
    self: { name: i.nodeName, address: addr(i.nodeName) },
    peers,
    clusterName: `bulwark-${i.cluster}`,
    routePort: i.fabric.routePort,
    meshInterface: i.meshInterface,
  };
}

/** The route list the firewall opens the route port to (public facts). Pure. */
export interface RoutesFile {
  port: number;
  interface: string;
  self: string;
  peers: FabricMember[];
}

export function routesFile(p: Extract<FabricPlan, { active: true }>): RoutesFile {
  return { port: p.routePort, interface: p.meshInterface, self: p.self.address, peers: p.peers.map(({ name, address }) => ({ name, address })) };
}
