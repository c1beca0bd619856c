import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../../core/command.js';
import { ConfigError, loadConfig } from '../../config/index.js';

export const command: Command = {
  name: 'validate',
  summary: 'check bulwark.yaml',
  help: `Usage: bulwark [-c FILE] validate [--json]

Checks the cluster inventory against the schema. Every problem is printed as
  FILE:LINE:COL: FIELD: MESSAGE
Unknown keys are errors (a typo must not silently become a default).

Exit codes: 0 valid, 2 invalid or unreadable.`,
  async run(ctx, args) {
    parseArgs({ args, options: {}, strict: true });
    try {
      const cfg = loadConfig(ctx.configPath);
      if (ctx.json) ctx.out.write(JSON.stringify({ ok: true, file: ctx.configPath, nodes: cfg.nodes.map((n) => n.name) }) + '\n');
      else ctx.out.write(`${ctx.configPath}: ok (cluster ${cfg.cluster}, ${cfg.nodes.length} node${cfg.nodes.length === 1 ? '' : 's'})\n`);
      return EXIT.OK;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      if (ctx.json) ctx.out.write(JSON.stringify({ ok: false, file: ctx.configPath, problems: e.problems }) + '\n');
      else ctx.err.write(e.message + '\n');
      return EXIT.USAGE;
    }
  },
};
