import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../cli/command.js';
import { loadConfig } from '../config/index.js';
import { AGENT_SOCKET } from '../config/locate.js';
import { onNode, resolveTargets } from '../provision/targets.js';
import type { AgentStatus } from './agent.js';
import { askAgent } from './control.js';

type NodeStatus = { node: string; ok: boolean; error?: string } & Partial<AgentStatus>;

/** The TLS certificate lines the certs capability noted (names, issuer, days left), indented under the node. */
const certLines = (r: NodeStatus): string[] =>
  (r.lastReconcile?.reports.find((x) => x.name === 'certs')?.notes ?? []).filter((n) => n.startsWith('certificate')).map((n) => `\n  ${n}`);

export function render(rows: NodeStatus[]): string {
  return rows
    .map((r) =>
      r.ok
        ? `${r.node}  bulwark ${r.version}  up ${r.uptimeSec}s  last reconcile ${r.lastReconcile?.at ?? 'never'}  ${r.summary}${certLines(r).join('')}`
        : `${r.node}  UNREACHABLE: ${r.error}`,
    )
    .join('\n') + '\n';
}

export const command: Command = {
  name: 'status',
  summary: "show the agents' state per node",
  help: `Usage: bulwark [-c FILE] status [NODE...|--all] [--json]

Shows each node agent's version, uptime, last reconcile and its one-line summary. On a node with no
NODE given: that node's agent (over /run/bulwark/agent.sock). From the operator's machine: over SSH.

Exit codes: 0 every node answered, 2 usage or config error, 3 a node failed to answer.`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: { all: { type: 'boolean' } }, allowPositionals: true, strict: true });
    const self = onNode();
    let rows: NodeStatus[];
    if (self && !values.all && (positionals.length === 0 || (positionals.length === 1 && positionals[0] === self))) {
      try {
        rows = [{ ok: true, ...(await askAgent(AGENT_SOCKET, { op: 'status' })) as AgentStatus, node: self }];
      } catch (e) {
        rows = [{ node: self, ok: false, error: e instanceof Error ? e.message : String(e) }];
      }
    } else {
      const cfg = loadConfig(ctx.configPath);
      const nodes = resolveTargets(cfg, positionals, Boolean(values.all) || positionals.length === 0);
      const { runOnNodes } = await import('../provision/fanout.js');
      const runs = await runOnNodes(ctx, cfg, nodes, ['status', '--json']);
      rows = runs.map((r) => {
        if (r.code !== 0) return { node: r.node, ok: false, error: (r.stderr || r.stdout).trim() || `exit ${r.code}` };
        try {
          const j = JSON.parse(r.stdout) as { nodes: NodeStatus[] };
          return j.nodes[0] ?? { node: r.node, ok: false, error: 'empty reply' };
        } catch {
          return { node: r.node, ok: false, error: `unreadable reply: ${r.stdout.slice(0, 200)}` };
        }
      });
    }
    if (ctx.json) ctx.out.write(JSON.stringify({ nodes: rows }) + '\n');
    else ctx.out.write(render(rows));
    return rows.every((r) => r.ok) ? EXIT.OK : EXIT.NODE_FAILED;
  },
};
