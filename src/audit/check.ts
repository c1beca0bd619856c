import type { Config } from '../config/schema.js';

export type CheckStatus = 'pass' | 'fail' | 'n/a';

/** One posture check: a stable id, a verdict and the evidence seen on the live host. */
export interface AuditCheck {
  id: string;
  status: CheckStatus;
  /** The value seen, e.g. "policy drop" or "written, not live: read-only". */
  evidence: string;
}

export interface AuditContext {
  config: Config;
  nodeName: string;
}

/** A capability's checks. Runs on the node itself (as root). */
export interface AuditProvider {
  name: string;
  run(ctx: AuditContext): Promise<AuditCheck[]>;
}
