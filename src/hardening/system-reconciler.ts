import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { nodeHardeningHost, type HardeningHost } from './apply.js';
import { applySystemHardening } from './system-apply.js';

/** The agent's system-hardening loop: modprobe.d, login policy, banners, audit rules, integrity timer. */
export function systemHardeningReconciler(host: () => HardeningHost = nodeHardeningHost): Reconciler<Config> {
  return {
    name: 'system-hardening',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'system-hardening', changed: false, drift: [], notes: [] };
      try {
        const r = await applySystemHardening(ctx.config.hardening, host());
        report.drift.push(...r.drift);
        report.notes.push(...r.notes);
        report.changed = report.drift.length > 0;
        if (report.changed) ctx.log.warn({ drift: report.drift }, 'system hardening: repaired drift');
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}

export const reconciler = systemHardeningReconciler();
