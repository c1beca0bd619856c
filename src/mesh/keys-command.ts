import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { loadConfig } from '../config/index.js';
import { actOnNodes, reportFailures } from '../remote/act.js';
import { onNode, TARGET_OPTIONS } from '../remote/select.js';

export const command: Command = {
  name: 'keys',
  summary: 'rotate mesh keys: keys rotate --wireguard [--node N|--all] | --psk',
  help: `Usage: bulwark [-c FILE] keys rotate (--wireguard [--node N|--all] | --psk)

  --wireguard   rotate a node's WireGuard key without dropping traffic: the new public key is staged on
                every peer, then switched; if a peer does not confirm in time everything rolls back
  --node N      the node to rotate (default: this node, on a node); --all: every node, one after another
  --psk         new ML-KEM-768 pre-shared keys for every pair (sessions carry on)

On a node the local agent runs the rotation (asked over the mesh with a message signed by this node's
key); from the operator machine the same command runs on the nodes over SSH.

Exit codes: 0 rotated, 2 usage error, 3 a node failed (rolled back, mesh intact).`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: { wireguard: { type: 'boolean' }, psk: { type: 'boolean' }, ...TARGET_OPTIONS }, allowPositionals: true, strict: true });
    if (positionals[0] !== 'rotate' || positionals.length !== 1) throw new UsageError('keys rotate (--wireguard [--node N|--all] | --psk)');
    if (Boolean(values.wireguard) === Boolean(values.psk)) throw new UsageError('give exactly one of --wireguard or --psk');
    const cfg = loadConfig(ctx.configPath);
    const self = onNode();
    const what = values.psk ? 'psk' : 'wireguard';
    // PSKs are rotated for every pair from one node: this one, or (from the operator) the first in the config.
    const names = values.node ?? [];
    const targets = values.psk ? { names: names.length || self ? names : [cfg.nodes[0]?.name ?? ''], all: false } : { names, all: Boolean(values.all) };
    const { outcomes, code } = await actOnNodes<unknown>(
      ctx,
      {
        targets,
        whenNone: 'required',
        config: () => cfg,
        async local(node) {
          const { nodeMesh } = await import('./node.js');
          const mesh = nodeMesh(cfg, node, { log: ctx.log });
          mesh.init();
          try {
            return { node, code: EXIT.OK, result: await mesh.send(node, 'rotate.run', { what }) };
          } catch (e) {
            return { node, code: EXIT.NODE_FAILED, error: e instanceof Error ? e.message : String(e) };
          }
        },
        // One node at a time: each rotation must finish before the next starts.
        remote: { argv: ['keys', 'rotate', `--${what}`, '--json'], parse: (stdout) => (JSON.parse(stdout) as { result: unknown }).result, oneAtATime: true },
      },
      self,
    );
    reportFailures(ctx, outcomes);
    for (const o of outcomes) if (o.code === EXIT.OK) ctx.out.write(ctx.json ? JSON.stringify({ node: o.node, result: o.result }) + '\n' : `${o.node}: ${what} keys rotated\n`);
    return code;
  },
};
