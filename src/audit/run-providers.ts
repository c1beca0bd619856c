import type { AuditCheck, AuditContext, AuditProvider } from '../core/audit.js';

export interface NodeAudit {
  node: string;
  checks: AuditCheck[];
}

/** Runs every provider; a provider that throws becomes one failing check (so nothing is silently skipped). */
export async function runProviders<C>(providers: readonly AuditProvider<C>[], ctx: AuditContext<C>): Promise<AuditCheck[]> {
  const out: AuditCheck[] = [];
  for (const p of providers) {
    try {
      out.push(...(await p.run(ctx)));
    } catch (e) {
      out.push({ id: `${p.name}.provider`, status: 'fail', evidence: `could not run: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  return out;
}

/** A text table: node, id, status, evidence (and the baseline rule it answers, in brackets). Pure. */
export function renderAudit(audits: readonly NodeAudit[]): string {
  const evidence = (c: AuditCheck) => c.evidence.replace(/\s+/g, ' ') + (c.baseline ? ` [${c.baseline}]` : '');
  const rows = audits.flatMap((a) => a.checks.map((c) => [a.node, c.id, c.status.toUpperCase(), evidence(c)] as const));
  const w = [4, 2, 6].map((min, i) => Math.max(min, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) =>
    r
      .map((x, i) => (i < 3 ? x.padEnd(w[i] ?? 0) : x))
      .join('  ')
      .trimEnd();
  const summary = audits.map((a) => {
    const n = (s: string) => a.checks.filter((c) => c.status === s).length;
    return `${a.node}: ${n('pass')} pass, ${n('fail')} fail, ${n('n/a')} n/a`;
  });
  return [line(['NODE', 'ID', 'STATUS', 'EVIDENCE']), ...rows.map(line), '', ...summary].join('\n') + '\n';
}

export const auditFailed = (audits: readonly NodeAudit[]) => audits.some((a) => a.checks.some((c) => c.status === 'fail'));
