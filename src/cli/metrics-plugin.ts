import type { Config } from '../config/schema.js';
import type { AuditProvider } from '../core/audit.js';
import type { ObserverContext, PassObserver } from '../core/reconciler.js';

/**
 * The metrics endpoint wired to the node: the capabilities' facts it shows (firewall table, mesh links and
 * addresses, apps, certificates' days left) handed to src/metrics, which imports no other capability. Composition root only.
 */
export async function metricsObservers(ctx: ObserverContext<Config>, loadAuditProviders: () => Promise<AuditProvider<Config>[]>): Promise<PassObserver[]> {
  const [
    { Observability },
    { getUnix },
    { meshLinks },
    { readTableJson },
    { sharedNodeMesh },
    { allocateAddresses },
    { listAppSpecs },
    { appUnit },
    { run },
    { ROUTER_METRICS_SOCKET },
    { runProviders },
    { daysLeft, tlsFiles },
    { readCertFacts },
  ] = await Promise.all([
    import('../metrics/observe.js'),
    import('../metrics/sources.js'),
    import('../metrics/collect.js'),
    import('../firewall/nft.js'),
    import('../mesh/node.js'),
    import('../mesh/addresses.js'),
    import('../containers/state.js'),
    import('../containers/plan.js'),
    import('../util/exec.js'),
    import('../router/metrics-paths.js'),
    import('../audit/run-providers.js'),
    import('../certs/plan.js'),
    import('../certs/store.js'),
  ]);
  return [
    new Observability({
      ...ctx,
      sources: {
        nftJson: () => readTableJson(),
        mesh: async () => {
          const c = ctx.config();
          if (!c) return null;
          const node = sharedNodeMesh(c, ctx.nodeName, ctx.log);
          if (!node.keys.initialized()) return null;
          return meshLinks(
            await node.dev.dump(),
            node.peers().filter((p) => p.name !== ctx.nodeName),
            Math.floor(Date.now() / 1000),
          );
        },
        routerText: () => getUnix(ROUTER_METRICS_SOCKET, '/metrics'),
        // each TLS listener's certificate (src/certs), named by its DNS names
        certificates: async () => {
          const c = ctx.config();
          if (!c) return [];
          const now = new Date();
          return tlsFiles(c).flatMap((t) => {
            const f = readCertFacts(t.cert);
            return f ? [{ name: f.names.join(',') || `listener ${t.listener}`, daysLeft: daysLeft(f, now) }] : [];
          });
        },
      },
      meshAddresses: (c) =>
        allocateAddresses(
          c.mesh.cidr,
          c.nodes.map((n) => n.name),
          c.mesh.addresses,
        ),
      apps: () =>
        Promise.all(listAppSpecs().map(async (a) => ({ name: a.name, realm: a.realm, state: (await run(['systemctl', 'is-active', appUnit(a)], { timeoutMs: 5000 })).stdout.trim() || 'unknown' }))),
      audit: async () => {
        const c = ctx.config();
        return c ? runProviders(await loadAuditProviders(), { config: c, nodeName: ctx.nodeName }) : [];
      },
    }),
  ];
}

/** `metrics.not-public`, with the firewall plan's view of this node's inbound allows. */
export async function metricsAuditProvider(): Promise<AuditProvider<Config>> {
  const [{ metricsAudit }, { nodeHost, planFor }, { cidrToString }] = await Promise.all([import('../metrics/audit.js'), import('../firewall/local.js'), import('../firewall/cidr.js')]);
  return metricsAudit(async (config, nodeName) => (await planFor(config, nodeName, nodeHost())).inputAllows.map((a) => ({ ...a, from: a.from === null ? null : a.from.map(cidrToString) })));
}
