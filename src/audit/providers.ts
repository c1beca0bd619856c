import type { AuditProvider } from './check.js';

/** Every capability's audit checks. Add one line per capability. */
export async function loadAuditProviders(): Promise<AuditProvider[]> {
  return [
    (await import('../firewall/audit.js')).provider,
    (await import('../hardening/audit.js')).provider,
    (await import('../mesh/audit.js')).meshAuditProvider,
    (await import('../containers/audit.js')).containersAudit,
    (await import('../principals/audit.js')).principalsAudit,
  ];
}
