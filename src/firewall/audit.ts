import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { diffTable } from './compare.js';
import { nodeHost, planFor, type FirewallHost } from './local.js';
import { readTable } from './nft.js';
import { BAN_RULES, BAN_SET } from './ssh-ban.js';

/** Firewall checks: our table present and equal to the plan; input/output/forward policies drop. */
export function firewallAudit(host: () => FirewallHost = nodeHost): AuditProvider<Config> {
  return {
    name: 'firewall',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const live = await readTable({ netns: h.netns });
      const checks: AuditCheck[] = [];
      checks.push({
        id: 'firewall.table',
        status: live ? 'pass' : 'fail',
        evidence: live ? 'table inet bulwark present' : 'table inet bulwark absent',
        baseline: 'CIS Debian 12 L1: Ensure a nftables table exists',
      });
      const plan = await planFor(ctx.config, ctx.nodeName, h);
      const d = diffTable(plan, live);
      checks.push({ id: 'firewall.matches-plan', status: d.equal ? 'pass' : 'fail', evidence: d.equal ? 'live table equals the plan' : d.changes.slice(0, 5).join('; ') });
      for (const chain of ['input', 'forward', 'output']) {
        const c = live?.chains.find((x) => x.name === chain);
        checks.push({
          id: `firewall.${chain}-policy`,
          status: c?.policy === 'drop' && c.hook === chain ? 'pass' : 'fail',
          evidence: c ? `hook ${c.hook ?? '-'} policy ${c.policy ?? '-'}` : 'chain absent',
          baseline: 'CIS Debian 12 L1: Ensure nftables default deny firewall policy',
        });
      }
      const bf = ctx.config.firewall.ssh.bruteForce;
      const missing = [...BAN_RULES.filter((c) => !live?.rules.some((r) => r.comment === c)), ...Object.values(BAN_SET).filter((n) => !live?.sets.some((s) => s.name === n))];
      checks.push({
        id: 'firewall.ssh-ban',
        status: bf.enabled && missing.length === 0 ? 'pass' : 'fail',
        evidence: !bf.enabled
          ? 'firewall.ssh.bruteForce.enabled is false'
          : missing.length
            ? `missing: ${missing.join(', ')}`
            : `new SSH connections over ${bf.rate}/${bf.per} (burst ${bf.burst}) per source ban it for ${bf.banSeconds} s${bf.exemptManagement ? '; management networks exempt' : ''}`,
      });
      return checks;
    },
  };
}

export const provider = firewallAudit();
