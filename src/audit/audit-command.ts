import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import type { AuditProvider } from '../core/audit.js';
import { EXIT, type Command } from '../core/command.js';
import { loadConfig } from '../config/index.js';
import { actOnNodes, reportFailures } from '../remote/act.js';
import { TARGET_OPTIONS } from '../remote/select.js';
import { auditFailed, renderAudit, runProviders, type NodeAudit } from './run-providers.js';

/** `bulwark audit`; `providers` are the capabilities' checks (src/cli/plugins.ts). */
export const auditCommand = (providers: () => Promise<AuditProvider<Config>[]>): Command => ({
  name: 'audit',
  summary: 'check live nodes against the policy (firewall, dumps, sysctls, ...); exit 1 on any failure',
  help: `Usage: bulwark [-c FILE] audit [NODE...|--node N...|--all] [--json]

Runs every capability's checks on the node: table inet bulwark present and equal to the plan, chain
policies drop, each core/kernel dump mechanism (file and live value), each hardening sysctl, and more as
capabilities add them. Each check: id, PASS / FAIL / N/A, and the evidence seen. A value the node cannot
set (for example a kernel-wide sysctl inside a container, where /proc/sys is read-only) is N/A with
"written, not live: read-only", never PASS.

On a node with no NODE given it audits that node; from the operator's machine it runs on the named
nodes (or --all) over SSH.

Exit codes: 0 every check passed or is n/a, 1 a check failed, 2 usage or config error, 3 a node failed.`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: TARGET_OPTIONS, allowPositionals: true, strict: true });
    const config = loadConfig(ctx.configPath);
    const { outcomes, code } = await actOnNodes<NodeAudit[]>(ctx, {
      targets: { names: [...positionals, ...(values.node ?? [])], all: Boolean(values.all) },
      whenNone: 'required',
      config: () => config,
      async local(self) {
        const audit = { node: self, checks: await runProviders(await providers(), { config, nodeName: self }) };
        return { node: self, code: auditFailed([audit]) ? EXIT.CHECK_FAILED : EXIT.OK, result: [audit] };
      },
      remote: { argv: ['audit', '--json'], parse: (stdout) => (JSON.parse(stdout) as { nodes: NodeAudit[] }).nodes },
    });
    reportFailures(ctx, outcomes);
    const audits = outcomes.flatMap((o) => o.result ?? []);
    ctx.out.write(ctx.json ? JSON.stringify({ nodes: audits }) + '\n' : renderAudit(audits));
    return code;
  },
});
