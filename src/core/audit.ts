export type CheckStatus = 'pass' | 'fail' | 'n/a';

/** One posture check: a stable id, a verdict and the evidence seen on the live host. */
export interface AuditCheck {
  id: string;
  status: CheckStatus;
  /** The value seen, e.g. "policy drop" or "written, not live: read-only". */
  evidence: string;
  /** The baseline rule this check answers, e.g. "CIS Debian 12 L1: Ensure sshd MaxAuthTries is configured". */
  baseline?: string;
}

/** What a provider is handed; `C` is the cluster config type (src/config's `Config`). */
export interface AuditContext<C> {
  config: C;
  nodeName: string;
}

/** A capability's checks. Runs on the node itself (as root). */
export interface AuditProvider<C> {
  name: string;
  run(ctx: AuditContext<C>): Promise<AuditCheck[]>;
}
