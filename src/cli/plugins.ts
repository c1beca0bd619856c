import type { Config } from '../config/schema.js';
import type { AuditProvider } from '../core/audit.js';
import type { BootstrapGuard, ClusterStep, NodePrepStep } from '../core/cluster.js';
import type { ObserverContext, PassObserver, Reconciler } from '../core/reconciler.js';

/**
 * Every capability's plug-ins, in the order they run: the agent's reconcilers, `bulwark audit`'s checks,
 * bootstrap's guards and cluster steps. The frameworks (src/agent, src/audit, src/provision) are handed these lists by the
 * command registry (commands/index.ts) and never import a capability themselves. Add one line per capability.
 */
export async function loadReconcilers(): Promise<Reconciler<Config>[]> {
  return [
    (await import('../firewall/reconciler.js')).reconciler,
    (await import('../firewall/boot-reconciler.js')).reconciler,
    (await import('../hardening/reconciler.js')).reconciler,
    (await import('../sshd/reconciler.js')).reconciler,
    (await import('../hardening/system-reconciler.js')).reconciler,
    (await import('../mesh/reconciler.js')).meshReconciler,
    await (await import('./fabric-plugin.js')).fabricReconciler(),
    (await import('../containers/reconciler.js')).containersReconciler,
    (await import('../certs/reconciler.js')).createCertsReconciler({ peers: (await import('../mesh/peers.js')).meshPeerMessenger }),
    (await import('../updates/reconciler.js')).updatesReconciler(),
  ];
}

export async function loadAuditProviders(): Promise<AuditProvider<Config>[]> {
  return [
    (await import('../firewall/audit.js')).provider,
    (await import('../firewall/boot-audit.js')).provider,
    (await import('../hardening/audit.js')).provider,
    (await import('../sshd/audit.js')).provider,
    (await import('../hardening/system-audit.js')).provider,
    (await import('../mesh/audit.js')).meshAuditProvider,
    (await import('../containers/audit.js')).containersAudit,
    (await import('../principals/audit.js')).principalsAudit,
    (await import('../certs/audit.js')).certsAudit,
    (await import('../updates/audit.js')).updatesAudit(),
    await (await import('./fabric-plugin.js')).fabricAuditProvider(),
    await (await import('./metrics-plugin.js')).metricsAuditProvider(),
  ];
}

/** What follows each agent pass: the metrics endpoint and status page (src/metrics). */
export async function loadPassObservers(ctx: ObserverContext<Config>): Promise<PassObserver[]> {
  return (await import('./metrics-plugin.js')).metricsObservers(ctx, loadAuditProviders);
}

export async function loadBootstrapGuards(): Promise<BootstrapGuard<Config>[]> {
  return [(await import('../firewall/lockout.js')).bootstrapGuard];
}

export async function loadClusterSteps(): Promise<ClusterStep<Config>[]> {
  return [(await import('../mesh/bootstrap-step.js')).meshStep, (await import('../hardening/integrity-step.js')).integrityStep];
}

/** Run by bootstrap on each node after preflight, before packages: the apt sources (src/updates). */
export async function loadNodePrepSteps(): Promise<NodePrepStep<Config>[]> {
  return [(await import('../updates/bootstrap-step.js')).sourcesStep];
}
