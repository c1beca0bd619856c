import type { Config } from '../config/schema.js';
import type { AuditProvider } from '../core/audit.js';
import type { Reconciler } from '../core/reconciler.js';

/**
 * The fabric (src/fabric) wired to the node: the mesh's address allocation and signed messages (route
 * certificates travel between members that way), and the firewall's reconciler, run again when the route
 * list changes so the route port opens in the same pass. Composition root only.
 */
export async function fabricReconciler(): Promise<Reconciler<Config>> {
  const [{ createFabricReconciler }, { allocateAddresses }, { meshPeerMessenger }, { reconciler: firewall }] = await Promise.all([
    import('../fabric/reconciler.js'),
    import('../mesh/addresses.js'),
    import('../mesh/peers.js'),
    import('../firewall/reconciler.js'),
  ]);
  return createFabricReconciler({
    addresses: allocateAddresses,
    peers: meshPeerMessenger,
    afterRoutesChanged: async (ctx) => {
      const r = await firewall.reconcile(ctx);
      if (r.error) ctx.log.warn({ error: r.error }, 'firewall pass after a fabric route change failed');
    },
  });
}

/** The fabric's audit checks, with the mesh's address allocation and the firewall plan's inbound allows. */
export async function fabricAuditProvider(): Promise<AuditProvider<Config>> {
  const [{ createFabricAudit }, { allocateAddresses }, { nodeHost, planFor }, { cidrToString }] = await Promise.all([
    import('../fabric/audit.js'),
    import('../mesh/addresses.js'),
    import('../firewall/local.js'),
    import('../firewall/cidr.js'),
  ]);
  return createFabricAudit({
    addresses: allocateAddresses,
    inputAllows: async (config, nodeName) =>
      (await planFor(config, nodeName, nodeHost())).inputAllows.map((a) => ({ id: a.id, proto: a.proto, ports: a.ports, iifname: a.iifname, from: a.from === null ? null : a.from.map(cidrToString) })),
  });
}
