import { parseArgs } from 'node:util';
import { EXIT, type CliContext, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/schema.js';
import { actOnNodes, combineExits, reportFailures } from '../remote/act.js';
import { onNode, resolveTargets } from '../remote/select.js';
import { memberFactsSchema } from './members.js';
import { renderStatus, nodeStatus, type NodeMeshStatus } from './status.js';
import { z } from 'zod';

const HELP = `Usage: bulwark [-c FILE] mesh COMMAND

  status [--json]      every node and peer: endpoint, mesh address, last handshake, bytes, reachable (a ping
                       across the mesh just now), and a summary line
  join NODE            add a bootstrapped node: its keys are made on it, then every node learns its public keys
  remove NODE          every peer forgets NODE, then NODE's interface goes down and its keys are destroyed

On a node (what the operator's commands run there): facts, set-members B64JSON, forget NODE, leave.

Exit codes: 0 ok, 1 a peer is unreachable, 2 usage or config error, 3 a node failed.`;

async function fanout(ctx: CliContext, cfg: Config, names: string[], argv: string[]) {
  const { runOnNodes } = await import('../remote/fanout.js');
  return runOnNodes(
    ctx,
    cfg,
    cfg.nodes.filter((n) => names.includes(n.name)),
    argv,
  );
}

async function localNode(ctx: CliContext, self: string) {
  const cfg = loadConfig(ctx.configPath);
  const { nodeMesh } = await import('./node.js');
  const node = nodeMesh(cfg, self, { log: ctx.log });
  return { cfg, node };
}

/** `mesh join NODE` from the operator: facts from every member, then the member list to each. */
export async function joinFromOperator(ctx: CliContext, cfg: Config, name: string): Promise<number> {
  resolveTargets(cfg, [name], false); // an unknown NODE is a usage error
  const { syncMembers, MemberSyncError } = await import('./join.js');
  let synced: Awaited<ReturnType<typeof syncMembers>>;
  try {
    synced = await syncMembers(cfg, (names, argv) => fanout(ctx, cfg, names, argv), name);
  } catch (e) {
    if (!(e instanceof MemberSyncError)) throw e;
    ctx.err.write(`mesh join: ${e.message}\n`);
    return EXIT.NODE_FAILED;
  }
  const { members, failed } = synced;
  for (const r of failed) ctx.err.write(`${r.node}: ${(r.stderr || r.stdout).trim()}\n`);
  if (!failed.length) ctx.out.write(`${name} joined the mesh (${members.length} members)\n`);
  return failed.length ? EXIT.NODE_FAILED : EXIT.OK;
}

export const command: Command = {
  name: 'mesh',
  summary: 'WireGuard mesh: status, join NODE, remove NODE',
  help: HELP,
  async run(ctx, args) {
    const [sub, ...rest] = args;
    const self = onNode();
    switch (sub) {
      case 'status': {
        parseArgs({ args: rest, options: {}, strict: true });
        const down = (rows: NodeMeshStatus[]) => rows.some((n) => !n.up || n.peers.some((p) => !p.reachable));
        const { outcomes, code } = await actOnNodes<NodeMeshStatus[]>(
          ctx,
          {
            targets: { names: [], all: false },
            whenNone: 'all',
            config: () => loadConfig(ctx.configPath),
            async local(name) {
              const { node } = await localNode(ctx, name);
              node.init();
              const rows = [await nodeStatus(node)];
              return { node: name, code: down(rows) ? EXIT.CHECK_FAILED : EXIT.OK, result: rows };
            },
            remote: { argv: ['mesh', 'status', '--json'], parse: (stdout) => (JSON.parse(stdout) as { nodes: NodeMeshStatus[] }).nodes },
          },
          self,
        );
        reportFailures(ctx, outcomes);
        const rows = outcomes.flatMap((o) => o.result ?? []);
        if (ctx.json) ctx.out.write(JSON.stringify({ nodes: rows }) + '\n');
        else ctx.out.write(renderStatus(rows));
        return code;
      }
      case 'facts': {
        parseArgs({ args: rest, options: {}, strict: true });
        if (!self) throw new UsageError('mesh facts runs on a node');
        const { node } = await localNode(ctx, self);
        node.init(); // makes the keys here on first use; only public keys are printed
        const { endpoint: _e, ...facts } = node.facts('192.0.2.1');
        // knownMembers: who this node already meshes with, so a sync never silently drops one of them.
        ctx.out.write(JSON.stringify({ ...facts, knownMembers: node.getMembers().map((m) => m.name) }) + '\n');
        return EXIT.OK;
      }
      case 'set-members': {
        parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
        if (rest.length !== 1) throw new UsageError('mesh set-members B64JSON');
        if (!self) throw new UsageError('mesh set-members runs on a node');
        const members = z.array(memberFactsSchema).parse(JSON.parse(Buffer.from(rest[0] ?? '', 'base64').toString('utf8')));
        const { node } = await localNode(ctx, self);
        node.init();
        const changed = node.setMembers(members);
        ctx.out.write(changed ? `${self}: ${members.length} members; the agent brings ${node.dev.iface} to them\n` : `${self}: members unchanged\n`);
        return EXIT.OK;
      }
      case 'forget':
      case 'leave': {
        parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
        if (rest.length !== (sub === 'forget' ? 1 : 0)) throw new UsageError(sub === 'forget' ? 'mesh forget NODE' : 'mesh leave');
        if (!self) throw new UsageError(`mesh ${sub} runs on a node`);
        const { node } = await localNode(ctx, self);
        node.init();
        if (sub === 'forget') await node.forgetMember(rest[0] ?? '');
        else await node.leave();
        return EXIT.OK;
      }
      case 'join':
      case 'remove': {
        parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
        const name = rest[0];
        if (!name || rest.length !== 1) throw new UsageError(`mesh ${sub} NODE`);
        const cfg = loadConfig(ctx.configPath);
        if (sub === 'join') return joinFromOperator(ctx, cfg, name);
        resolveTargets(cfg, [name], false); // an unknown NODE is a usage error (exit 2)
        const others = cfg.nodes.map((n) => n.name).filter((n) => n !== name);
        const runs = [...(await fanout(ctx, cfg, others, ['mesh', 'forget', name])), ...(await fanout(ctx, cfg, [name], ['mesh', 'leave']))];
        // The others' firewalls close NODE's endpoint now (their member lists no longer have it).
        runs.push(...(await fanout(ctx, cfg, others, ['agent', 'reload'])));
        for (const r of runs.filter((x) => x.code !== 0)) ctx.err.write(`${r.node}: ${(r.stderr || r.stdout).trim()}\n`);
        return combineExits(runs.map((r) => r.code));
      }
      default:
        throw new UsageError(sub ? `unknown mesh command "${sub}"` : 'which mesh command?');
    }
  },
};
