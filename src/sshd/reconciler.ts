import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { applySshd, nodeSshdHost, type SshdHost } from './apply.js';

/** The agent's sshd loop: rewrites a missing or changed drop-in, checks it with `sshd -t`, reloads sshd. */
export function sshdReconciler(host: () => SshdHost = nodeSshdHost): Reconciler<Config> {
  return {
    name: 'sshd',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'sshd', changed: false, drift: [], notes: [] };
      try {
        const h = host();
        const r = await applySshd(ctx.config.ssh.server, h);
        if (r.status === 'written') {
          report.changed = true;
          report.drift.push(`${h.dropIn} rewritten (missing or changed)`);
          ctx.log.warn({ drift: report.drift, notes: r.notes }, 'sshd: drop-in written');
        }
        report.notes.push(...r.notes.filter((n) => r.status !== 'written' || !/reloaded/.test(n)));
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}

export const reconciler = sshdReconciler();
