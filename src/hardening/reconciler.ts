import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { applyHardening, nodeHardeningHost, type HardeningHost } from './apply.js';

/** The agent's hardening loop: rewrites drifted files, re-masks dump services, re-applies sysctls that changed. */
export function hardeningReconciler(host: () => HardeningHost = nodeHardeningHost): Reconciler<Config> {
  return {
    name: 'hardening',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'hardening', changed: false, drift: [], notes: [] };
      try {
        const r = await applyHardening(ctx.config.hardening, host());
        for (const f of r.files) if (f.status === 'written') report.drift.push(`${f.path} rewritten (missing or changed)`);
        for (const s of r.sysctls) if (!s.wasLive && s.status === 'live') report.drift.push(`${s.key} differed, set live to ${s.want}`);
        report.changed = report.drift.length > 0;
        report.notes.push(...r.notes);
        if (report.changed) ctx.log.warn({ drift: report.drift }, 'hardening: repaired drift');
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}

export const reconciler = hardeningReconciler();
