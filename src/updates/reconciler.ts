import type { Config } from '../config/schema.js';
import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import { applySources, applyUpdatesConfig, distroFromOsRelease, localUpdatesHost, type UpdatesHost } from './apply.js';

/**
 * The agent's updates loop: the apt sources (mirrors, security archive) and the unattended-upgrades and
 * needrestart files, rewritten when they drift. It never runs apt itself: the distro's timers
 * (apt-daily, apt-daily-upgrade) do, under the firewall's egress policy.
 */
export function updatesReconciler(host: () => UpdatesHost = () => localUpdatesHost()): Reconciler<Config> {
  return {
    name: 'updates',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'updates', changed: false, drift: [], notes: [] };
      try {
        const h = host();
        const distro = distroFromOsRelease((await h.read('/etc/os-release')) ?? (await h.read('/usr/lib/os-release')) ?? '');
        if (!distro.codename) {
          report.notes.push('no VERSION_CODENAME in os-release: apt sources left alone');
        } else {
          const s = await applySources(h, distro, ctx.config.provisioning.packages);
          report.notes.push(...s.notes);
          for (const f of s.changed) report.drift.push(`${f} rewritten (apt sources: ${s.summary})`);
          for (const f of await applyUpdatesConfig(h, distro, ctx.config.updates)) report.drift.push(`${f} rewritten (missing or changed)`);
        }
        report.changed = report.drift.length > 0;
        if (report.changed) ctx.log.warn({ drift: report.drift }, 'updates: repaired drift');
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}
