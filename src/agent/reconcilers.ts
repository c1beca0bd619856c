import type { Reconciler } from './reconciler.js';

/** Every capability's reconciler, in the order the agent runs them. Add one line per capability. */
export async function loadReconcilers(): Promise<Reconciler[]> {
  return [
    (await import('../firewall/reconciler.js')).reconciler,
    (await import('../hardening/reconciler.js')).reconciler,
    (await import('../mesh/reconciler.js')).meshReconciler,
    (await import('../containers/reconciler.js')).containersReconciler,
    (await import('../certs/reconciler.js')).certsReconciler,
  ];
}
