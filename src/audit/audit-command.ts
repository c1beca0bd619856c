import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import type { AuditProvider } from '../core/audit.js';
import { EXIT, type Command } from '../core/command.js';
import { loadConfig } from '../config/index.js';
import { onNode, resolveTargets, runOnNodes } from '../provision/fanout.js';
import { auditFailed, renderAudit, runProviders, type NodeAudit } from './run-providers.js';

/** `bulwark audit`; `providers` are the capabilities' checks (src/cli/plugins.ts). */
export const auditCommand = (providers: () => Promise<AuditProvider<Config>[]>): Command => ({
  name: 'audit',
  summary: 'check live nodes against the policy (firewall, dumps, sysctls, ...); exit 1 on any failure',
  help: `Usage: bulwark [-c FILE] audit [NODE...|--all] [--json]

Runs every capability's checks on the node: table inet bulwark present and equal to the plan, chain
policies drop, each core/kernel dump mechanism (file and live value), each hardening sysctl, and more as
capabilities add them. Each check: id, PASS / FAIL / N/A, and the evidence seen. A value the node cannot
set (for example a kernel-wide sysctl inside a container, where /proc/sys is read-only) is N/A with
"written, not live: read-only", never PASS.

On a node with no NODE given it audits that node; from the operator's machine it runs on the named
nodes (or --all) over SSH.

Exit codes: 0 every check passed or is n/a, 1 a check failed, 2 usage or config error, 3 a node failed.`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: { all: { type: 'boolean' } }, allowPositionals: true, strict: true });
    const config = loadConfig(ctx.configPath);
    const self = onNode();
    const audits: NodeAudit[] = [];
    let nodeFailed = false;
    if (self && !values.all && (positionals.length === 0 || (positionals.length === 1 && positionals[0] === self))) {
      audits.push({ node: self, checks: await runProviders(await providers(), { config, nodeName: self }) });
    } else {
      const nodes = resolveTargets(config, positionals, Boolean(values.all));
      for (const r of await runOnNodes(ctx, config, nodes, ['audit', '--json'])) {
        try {
          audits.push(...(JSON.parse(r.stdout) as { nodes: NodeAudit[] }).nodes);
        } catch {
          nodeFailed = true;
          ctx.err.write(`${r.node}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}\n`);
        }
      }
    }
    ctx.out.write(ctx.json ? JSON.stringify({ nodes: audits }) + '\n' : renderAudit(audits));
    if (nodeFailed) return EXIT.NODE_FAILED;
    return auditFailed(audits) ? EXIT.CHECK_FAILED : EXIT.OK;
  },
});
