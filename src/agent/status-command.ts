import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { loadConfig } from '../config/index.js';
import { AGENT_SOCKET } from '../config/locate.js';
import { actOnNodes } from '../remote/act.js';
import { TARGET_OPTIONS } from '../remote/select.js';
import type { AgentStatus } from './agent.js';
import { askAgent } from './control.js';

type NodeStatus = { node: string; ok: boolean; error?: string } & Partial<AgentStatus>;

/** The TLS certificate lines the certs capability noted (names, issuer, days left), indented under the node. */
const certLines = (r: NodeStatus): string[] => (r.lastReconcile?.reports.find((x) => x.name === 'certs')?.notes ?? []).filter((n) => n.startsWith('certificate')).map((n) => `\n  ${n}`);

/** The fabric's lines (routes up per peer with RTT, or why there is no NATS), indented under the node. */
const fabricLines = (r: NodeStatus): string[] =>
  (r.lastReconcile?.reports.find((x) => x.name === 'fabric')?.notes ?? []).filter((n) => /^fabric: (routes|off|waiting|monitoring|nats-server)/.test(n)).map((n) => `\n  ${n}`);

export function render(rows: NodeStatus[]): string {
  return (
    rows
      .map((r) =>
        r.ok
          ? `${r.node}  bulwark ${r.version}  up ${r.uptimeSec}s  last reconcile ${r.lastReconcile?.at ?? 'never'}  ${r.summary}${certLines(r).join('')}${fabricLines(r).join('')}`
          : `${r.node}  UNREACHABLE: ${r.error}`,
      )
      .join('\n') + '\n'
  );
}

export const command: Command = {
  name: 'status',
  summary: "show the agents' state per node",
  help: `Usage: bulwark [-c FILE] status [NODE...|--node N...|--all] [--json]

Shows each node agent's version, uptime, last reconcile and its one-line summary. On a node with no
NODE given: that node's agent (over /run/bulwark/agent.sock). From the operator's machine: over SSH,
every node when none is named.

Exit codes: 0 every node answered, 2 usage or config error, 3 a node failed to answer.`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: TARGET_OPTIONS, allowPositionals: true, strict: true });
    const { outcomes, code } = await actOnNodes<NodeStatus>(ctx, {
      targets: { names: [...positionals, ...(values.node ?? [])], all: Boolean(values.all) },
      whenNone: 'all',
      config: () => loadConfig(ctx.configPath),
      async local(self) {
        try {
          return { node: self, code: EXIT.OK, result: { ok: true, ...((await askAgent(AGENT_SOCKET, { op: 'status' })) as AgentStatus), node: self } };
        } catch (e) {
          return { node: self, code: EXIT.NODE_FAILED, result: { node: self, ok: false, error: e instanceof Error ? e.message : String(e) } };
        }
      },
      remote: {
        argv: ['status', '--json'],
        parse: (stdout) => {
          const row = (JSON.parse(stdout) as { nodes: NodeStatus[] }).nodes[0];
          if (!row) throw new Error('empty reply');
          return row;
        },
      },
    });
    const rows = outcomes.map((o): NodeStatus => o.result ?? { node: o.node, ok: false, error: o.error });
    if (ctx.json) ctx.out.write(JSON.stringify({ nodes: rows }) + '\n');
    else ctx.out.write(render(rows));
    return code;
  },
};
