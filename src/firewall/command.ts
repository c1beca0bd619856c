import { parseArgs } from 'node:util';
import { EXIT, type CliContext, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/schema.js';
import { actOnNodes, reportFailures } from '../remote/act.js';
import { TARGET_OPTIONS } from '../remote/select.js';
import { parseDuration } from './confirm.js';
import { localApply, localConfirm, localPlan, localRollback, localStatus, nodeHost, type ApplyReport, type PlanReport, type StatusReport } from './local.js';

const HELP = `Usage: bulwark [-c FILE] firewall SUBCOMMAND [NODE...|--all] [options] [--json]

The host firewall: one nftables table, table inet bulwark, planned from the firewall: section of
bulwark.yaml and the cluster (peers, mesh). Other tables are never touched. On a node without NODE the
command acts locally; from the operator's machine it runs on the named nodes over SSH.

Subcommands:
  plan [NODE]                 print the ruleset (nft text) and how the live table differs
  apply [NODE] [--force] [--confirm-within 60s]
                              apply it as one transaction (only our table is replaced; when only set
                              elements differ they are added/removed in place). Refuses a ruleset that
                              would cut the SSH path this command runs over ($SSH_CONNECTION) unless
                              --force. With --confirm-within, the previous table comes back unless
                              \`bulwark firewall confirm\` arrives in time.
  confirm [NODE]              keep the ruleset applied with --confirm-within
  rollback [NODE]             restore the table saved before the last apply
  status [NODE] [--json]      per-rule counters, chain policies, and whether the live table matches the plan

Exit codes: 0 ok, 1 refused / failed / live table differs from the plan (status), 2 usage or config error,
3 a node failed.`;

type Report = PlanReport | ApplyReport | StatusReport | { node: string; message: string; ok: boolean };

function renderPlan(r: PlanReport): string {
  const head = r.live === 'equal' ? 'live table matches this plan' : r.live === 'absent' ? 'live: table inet bulwark is absent' : 'live table differs:';
  return [`# ${r.node}`, r.text.trimEnd(), '', ...r.notes.map((n) => `note: ${n}`), head, ...r.changes.map((c) => `  ${c}`)].join('\n') + '\n';
}
function renderApply(r: ApplyReport): string {
  const lines = [`# ${r.node}`];
  if (r.error) lines.push(r.error);
  else
    lines.push(
      r.mode === 'unchanged' ? 'no changes: live table already matches' : `applied (${r.mode === 'elements' ? 'set elements updated in place' : 'table replaced'})`,
      ...r.changes.map((c) => `  ${c}`),
    );
  lines.push(`ssh path: ${r.lockout.reason}`);
  if (r.pending) lines.push(`confirm with \`bulwark firewall confirm\` before ${r.pending.deadline}, or it rolls back (${r.pending.how})`);
  lines.push(...r.notes.map((n) => `note: ${n}`));
  return lines.join('\n') + '\n';
}
function renderStatus(r: StatusReport): string {
  const lines = [`# ${r.node}`, `table inet bulwark: ${r.present ? 'present' : 'ABSENT'}; matches plan: ${r.matchesPlan ? 'yes' : 'no'}`];
  if (r.present)
    lines.push(
      `policies: ${Object.entries(r.policies)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  lines.push(...r.changes.map((c) => `  ${c}`));
  if (r.held) lines.push(`held: ${r.held}`);
  if (r.pending) lines.push(`pending: ${r.pending}`);
  const bans = r.sshBans ?? [];
  lines.push(`ssh bans: ${bans.length ? bans.map((b) => `${b.address} (${b.expiresIn}s left)`).join(', ') : 'none'}`);
  const w = Math.max(4, ...r.rules.map((x) => x.rule.length));
  for (const x of r.rules) lines.push(`  ${x.chain.padEnd(7)} ${x.rule.padEnd(w)} ${String(x.packets).padStart(10)} pkts ${String(x.bytes).padStart(12)} bytes`);
  return lines.join('\n') + '\n';
}

function render(sub: string, r: Report): string {
  if (sub === 'plan') return renderPlan(r as PlanReport);
  if (sub === 'apply') return renderApply(r as ApplyReport);
  if (sub === 'status') return renderStatus(r as StatusReport);
  return `# ${r.node}\n${(r as { message: string }).message}\n`;
}

function exitFor(sub: string, r: Report): number {
  if (sub === 'apply') return (r as ApplyReport).applied ? EXIT.OK : EXIT.CHECK_FAILED;
  if (sub === 'status') return (r as StatusReport).matchesPlan ? EXIT.OK : EXIT.CHECK_FAILED;
  if (sub === 'confirm' || sub === 'rollback') return (r as { ok: boolean }).ok ? EXIT.OK : EXIT.CHECK_FAILED;
  return EXIT.OK;
}

async function runLocal(sub: string, config: Config, node: string, v: { force?: boolean; 'confirm-within'?: string; token?: string; wait?: boolean }): Promise<Report> {
  const host = nodeHost();
  switch (sub) {
    case 'plan':
      return localPlan(config, node, host);
    case 'apply':
      return localApply(config, node, host, { force: v.force, confirmWithinMs: v['confirm-within'] ? parseDuration(v['confirm-within']) : undefined });
    case 'status':
      return localStatus(config, node, host);
    case 'confirm': {
      const r = await localConfirm(host);
      return { node, ok: r.confirmed, message: r.message };
    }
    case 'rollback': {
      const r = await localRollback(config, node, host, { token: v.token, wait: v.wait });
      return { node, ok: r.rolledBack || Boolean(v.token), message: r.message };
    }
    default:
      throw new UsageError(`unknown subcommand "${sub}"`);
  }
}

export const command: Command = {
  name: 'firewall',
  summary: 'plan, apply, confirm, roll back and inspect the nftables firewall',
  help: HELP,
  async run(ctx: CliContext, args: string[]) {
    const [sub, ...rest] = args;
    if (!sub || !['plan', 'apply', 'status', 'confirm', 'rollback'].includes(sub))
      throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'which subcommand? plan, apply, confirm, rollback or status');
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...TARGET_OPTIONS, force: { type: 'boolean' }, 'confirm-within': { type: 'string' }, token: { type: 'string' }, wait: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    if (values['confirm-within']) {
      try {
        parseDuration(values['confirm-within']);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const config = loadConfig(ctx.configPath);
    const { outcomes, code } = await actOnNodes<Report[]>(ctx, {
      targets: { names: [...positionals, ...(values.node ?? [])], all: Boolean(values.all) },
      whenNone: 'required',
      config: () => config,
      async local(self) {
        const r = await runLocal(sub, config, self, values);
        return { node: self, code: exitFor(sub, r), result: [r] };
      },
      remote: {
        argv: ['firewall', sub, ...(values.force ? ['--force'] : []), ...(values['confirm-within'] ? ['--confirm-within', values['confirm-within']] : []), '--json'],
        parse: (stdout) => (JSON.parse(stdout) as { nodes: Report[] }).nodes,
      },
    });
    reportFailures(ctx, outcomes);
    const reports = outcomes.flatMap((o) => o.result ?? []);
    if (ctx.json) ctx.out.write(JSON.stringify({ nodes: reports }) + '\n');
    else for (const r of reports) ctx.out.write(render(sub, r));
    return code;
  },
};
