import type { Logger } from 'pino';

/** What a reconciler is handed each pass; `C` is the cluster config type (src/config's `Config`). */
export interface ReconcileContext<C> {
  config: C;
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
export interface Reconciler<C> {
  name: string;
  reconcile(ctx: ReconcileContext<C>): Promise<ReconcileReport>;
}

/** What the agent tells a pass observer about itself when it starts. */
export interface ObserverContext<C> {
  nodeName: string;
  log: Logger;
  /** The agent's current (last good) config; undefined before one loaded. */
  config(): C | undefined;
  /** The agent's one-line summary, as `bulwark status` shows it. */
  summary(): string;
}

/** Something that follows the agent's passes (the metrics endpoint): told each pass's reports, closed at stop. */
export interface PassObserver {
  afterPass(reports: readonly ReconcileReport[]): Promise<void>;
  close(): Promise<void>;
}
