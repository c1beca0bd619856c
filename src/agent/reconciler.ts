import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';

export interface ReconcileContext {
  config: Config;
  /** This node's name (from /etc/bulwark/node.json). */
  nodeName: string;
  log: Logger;
}

/** What one reconciler found and did in one pass. */
export interface ReconcileReport {
  name: string;
  /** True when the pass changed the host (it found drift and repaired it, or applied new config). */
  changed: boolean;
  /** Human-readable drift found this pass, e.g. "table inet bulwark missing". Empty when converged. */
  drift: string[];
  /** Notes worth showing in status, e.g. "kernel.core_pattern written, not live: read-only". */
  notes: string[];
  error?: string;
  /** How long this capability's pass took (set by the agent). */
  durationMs?: number;
}

/** One capability's desired-vs-actual loop, run by the agent at start, on change and on a timer. */
export interface Reconciler {
  name: string;
  reconcile(ctx: ReconcileContext): Promise<ReconcileReport>;
}
