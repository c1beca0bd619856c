import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { logSecurityEvent } from '../log/security-event.js';
import { diffTable } from './compare.js';
import { applyPlan, readTable } from './nft.js';
import { nodeHost, planFor, planKey, type FirewallHost } from './local.js';

/**
 * The agent's firewall loop: applies the plan at start and repairs drift (our table deleted or edited by hand; set
 * elements are fixed in place). After a rollback the restored table is kept until the plan changes.
 */
export function firewallReconciler(host: () => FirewallHost = nodeHost): Reconciler<Config> {
  return {
    name: 'firewall',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'firewall', changed: false, drift: [], notes: [] };
      const h = host();
      try {
        if (!ctx.config.firewall.enabled) {
          report.notes.push('firewall.enabled is false: table inet bulwark not managed');
          return report;
        }
        const plan = await planFor(ctx.config, ctx.nodeName, h);
        report.notes.push(...plan.notes);
        const hold = await h.state.readHold();
        if (hold && hold.planKey === planKey(plan)) {
          report.notes.push(`held at the previous ruleset: rolled back (${hold.reason}) at ${hold.at}; run \`bulwark firewall apply\` to replace it`);
          return report;
        }
        if (hold) await h.state.clearHold();
        const before = diffTable(plan, await readTable({ netns: h.netns }));
        if (before.equal) return report;
        report.drift.push(...before.changes);
        const r = await applyPlan(plan, { netns: h.netns });
        report.changed = r.mode !== 'unchanged';
        logSecurityEvent(ctx.log, 'firewall.drift.repaired', {
          drift: before.changes,
          mode: r.mode,
          summary: `firewall: repaired drift (${r.mode === 'elements' ? 'set elements updated' : 'table replaced'})`,
        });
        const after = diffTable(plan, await readTable({ netns: h.netns }));
        if (!after.equal) report.error = `still differs after apply: ${after.changes.join('; ')}`;
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}

export const reconciler = firewallReconciler();
