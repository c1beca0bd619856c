import { readFile } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import { BOOT_UNIT, bootFiles, documentKey, documentTable, fallbackSshSources, nftCheck, renderFallback } from './boot.js';
import { nodeBootHost, type BootHost } from './boot-reconciler.js';
import { diffTable } from './compare.js';
import { readTable } from './nft.js';
import { TABLE, FAMILY } from './nft-json.js';

/**
 * Fail-closed boot checks: bulwark-firewall.service enabled; the saved ruleset present, loadable and equal
 * to the live table; the fallback present, loadable and the one the config renders.
 */
export function firewallBootAudit(host: () => BootHost = nodeBootHost): AuditProvider<Config> {
  return {
    name: 'firewall-boot',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const files = bootFiles(h.firewall.state.dir);
      const checks: AuditCheck[] = [];
      const enabledText = h.unitPath === null ? 'systemd is not running here' : (await h.systemctl.raw(['is-enabled', BOOT_UNIT])).stdout.trim() || 'not installed';
      checks.push({
        id: 'firewall.boot-unit-enabled',
        status: !ctx.config.firewall.enabled ? 'n/a' : enabledText === 'enabled' ? 'pass' : 'fail',
        evidence: `${BOOT_UNIT}: ${enabledText}`,
        baseline: 'CIS Debian 12 L1: Ensure nftables service is enabled',
      });
      if (!ctx.config.firewall.enabled) return checks;

      const saved = await readFile(files.saved, 'utf8').catch(() => undefined);
      let savedVerdict: AuditCheck = { id: 'firewall.saved-ruleset', status: 'fail', evidence: `${files.saved} missing` };
      if (saved !== undefined) {
        const live = await readTable({ netns: h.firewall.netns });
        const check = await nftCheck(saved, h.firewall.netns);
        if (!check.ok) savedVerdict = { ...savedVerdict, evidence: `${files.saved} does not load: ${check.error ?? ''}` };
        else if (!live) savedVerdict = { ...savedVerdict, evidence: `no table ${FAMILY} ${TABLE} live to compare with` };
        else {
          const d = diffTable(documentTable(saved), live);
          savedVerdict = d.equal
            ? { ...savedVerdict, status: 'pass', evidence: `${files.saved} loads and equals the live table` }
            : { ...savedVerdict, evidence: `${files.saved} differs from the live table: ${d.changes.slice(0, 3).join('; ')}` };
        }
      }
      checks.push({ ...savedVerdict, baseline: 'CIS Debian 12 L1: Ensure nftables rules are permanent' });

      const fallback = await readFile(files.fallback, 'utf8').catch(() => undefined);
      let fb: AuditCheck = { id: 'firewall.fallback-ruleset', status: 'fail', evidence: `${files.fallback} missing` };
      if (fallback !== undefined) {
        const check = await nftCheck(fallback, h.firewall.netns);
        let current = false;
        try {
          current = documentKey(fallback) === documentKey(renderFallback(ctx.config.firewall));
        } catch {
          current = false;
        }
        if (!check.ok) fb = { ...fb, evidence: `${files.fallback} does not load: ${check.error ?? ''}` };
        else if (!current) fb = { ...fb, evidence: `${files.fallback} loads but is not the one the current config renders` };
        else fb = { ...fb, status: 'pass', evidence: `${files.fallback} loads: default drop, SSH from ${fallbackSshSources(ctx.config.firewall)}` };
      }
      checks.push(fb);
      return checks;
    },
  };
}

export const provider = firewallBootAudit();
