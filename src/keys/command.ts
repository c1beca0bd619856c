import { parseArgs } from 'node:util';
import { EXIT, UsageError, type Command } from '../core/command.js';
import { loadConfig } from '../config/index.js';

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
    const { values, positionals } = parseArgs({ args, options: { wireguard: { type: 'boolean' }, psk: { type: 'boolean' }, node: { type: 'string' }, all: { type: 'boolean' } }, allowPositionals: true, strict: true });
    if (positionals[0] !== 'rotate' || positionals.length !== 1) throw new UsageError('keys rotate (--wireguard [--node N|--all] | --psk)');
    if (Boolean(values.wireguard) === Boolean(values.psk)) throw new UsageError('give exactly one of --wireguard or --psk');
    if (values.node && values.all) throw new UsageError('give --node N or --all, not both');
    const cfg = loadConfig(ctx.configPath);
    const { onNode } = await import('../provision/targets.js');
    const self = onNode();
    const what = values.psk ? 'psk' : 'wireguard';
    if (self && (!values.node || values.node === self) && !values.all) {
      const { nodeMesh } = await import('../mesh/node.js');
      const node = nodeMesh(cfg, self, { log: ctx.log });
      node.init();
      try {
        const r = await node.send(self, 'rotate.run', { what });
        ctx.out.write(ctx.json ? JSON.stringify({ node: self, result: r }) + '\n' : `${self}: ${what} keys rotated\n`);
        return EXIT.OK;
      } catch (e) {
        ctx.err.write(`${self}: ${e instanceof Error ? e.message : String(e)}\n`);
        return EXIT.NODE_FAILED;
      }
    }
    const names = values.psk ? [cfg.nodes[0]?.name ?? ''] : values.all ? cfg.nodes.map((n) => n.name) : values.node ? [values.node] : [];
    if (names.length === 0) throw new UsageError('which node? --node N or --all');
    const { runOnNodes } = await import('../provision/fanout.js');
    let failed = 0;
    for (const n of names) {
      const spec = cfg.nodes.find((x) => x.name === n);
      if (!spec) throw new UsageError(`unknown node ${n}`);
      // One node at a time: each rotation must finish before the next starts.
      const [r] = await runOnNodes(ctx, cfg, [spec], ['keys', 'rotate', `--${what}`, '--json']);
      if (!r || r.code !== 0) {
        failed++;
        ctx.err.write(`${n}: ${(r?.stderr || r?.stdout || '').trim()}\n`);
      } else ctx.out.write(ctx.json ? r.stdout : `${n}: ${what} keys rotated\n`);
    }
    return failed ? EXIT.NODE_FAILED : EXIT.OK;
  },
};
