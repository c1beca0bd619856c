import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import type { Reconciler, ReconcileReport } from '../core/reconciler.js';
import { Systemctl } from '../systemd/systemctl.js';
import { writeIfChanged } from '../systemd/units.js';
import { BOOT_UNIT, BOOT_UNIT_PATH, bootFiles, renderBootUnit, saveLastApplied, writeFallback } from './boot.js';
import { diffTable } from './compare.js';
import { nodeHost, planFor, type FirewallHost } from './local.js';
import { readTable } from './nft.js';

/** Where the boot files and unit live: the node by default; a namespace and temp dir in tests. */
export interface BootHost {
  firewall: FirewallHost;
  /** Where bulwark-firewall.service goes; null: not managed (tests without systemd). */
  unitPath: string | null;
  systemctl: Systemctl;
}

export const nodeBootHost = (): BootHost => ({ firewall: nodeHost(), unitPath: existsSync('/run/systemd/system') ? BOOT_UNIT_PATH : null, systemctl: new Systemctl() });

/**
 * Keeps the node fail-closed at boot (see boot.ts), after the firewall reconciler in each pass: the fallback
 * rendered from the config, the unit installed and enabled, and the live table saved as last-applied once it
 * is what the agent wants (equal to the plan, or held after a rollback). A live table that differs from the
 * plan (the repair failed) is not saved: the previous file stays.
 */
export function firewallBootReconciler(host: () => BootHost = nodeBootHost): Reconciler<Config> {
  return {
    name: 'firewall-boot',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'firewall-boot', changed: false, drift: [], notes: [] };
      const h = host();
      const dir = h.firewall.state.dir;
      const files = bootFiles(dir);
      try {
        if (!ctx.config.firewall.enabled) {
          // Not managed: nothing of ours may load at the next boot.
          for (const f of [files.saved, files.fallback]) {
            if (existsSync(f)) {
              await rm(f, { force: true });
              report.changed = true;
              report.drift.push(`${f} removed (firewall.enabled is false)`);
            }
          }
          return report;
        }
        if (await writeFallback(ctx.config.firewall, { dir, netns: h.firewall.netns })) {
          report.changed = true;
          report.drift.push(`${files.fallback} written (fail-closed fallback for the current config)`);
        }
        if (h.unitPath) {
          if (writeIfChanged(h.unitPath, renderBootUnit(dir))) {
            await h.systemctl.daemonReload();
            report.changed = true;
            report.drift.push(`${BOOT_UNIT} installed`);
          }
          const enabled = await h.systemctl.raw(['is-enabled', BOOT_UNIT]);
          if (enabled.stdout.trim() !== 'enabled') {
            await h.systemctl.act('enable', [BOOT_UNIT]);
            report.changed = true;
            report.drift.push(`${BOOT_UNIT} was ${enabled.stdout.trim() || 'not enabled'}: enabled`);
          }
        }
        let live: Awaited<ReturnType<typeof readTable>>;
        try {
          live = await readTable({ netns: h.firewall.netns });
        } catch (e) {
          // nft itself fails: the firewall capability reports that; nothing to save until it works again
          report.notes.push(`live table unreadable, last-applied kept as it was: ${e instanceof Error ? e.message : String(e)}`);
          return report;
        }
        if (!live) {
          report.notes.push('no table inet bulwark live: last-applied not saved');
          return report;
        }
        const hold = await h.firewall.state.readHold();
        const plan = await planFor(ctx.config, ctx.nodeName, h.firewall);
        if (!hold && !diffTable(plan, live).equal) {
          report.notes.push('live table differs from the plan: last-applied kept as it was');
          return report;
        }
        const before = await readFile(files.saved, 'utf8').catch(() => undefined);
        if (await saveLastApplied({ dir, netns: h.firewall.netns })) {
          report.notes.push(before === undefined ? `saved the live table to ${files.saved}` : `updated ${files.saved}`);
        }
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
      }
      return report;
    },
  };
}

export const reconciler = firewallBootReconciler();
