import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../../core/command.js';
import { STARTER } from '../../config/starter.js';
import { writeFileAtomic } from '../../util/atomic-write.js';

export const command: Command = {
  name: 'init',
  summary: 'write a commented starter bulwark.yaml',
  help: `Usage: bulwark [-c FILE] init [--force]

Writes a commented starter inventory to FILE (default ./bulwark.yaml).
Refuses to overwrite an existing file unless --force.

Exit codes: 0 written, 2 the file exists (no --force).`,
  async run(ctx, args) {
    const { values } = parseArgs({ args, options: { force: { type: 'boolean' } }, strict: true });
    if (existsSync(ctx.configPath) && !values.force) {
      ctx.err.write(`bulwark init: ${ctx.configPath} exists; not overwriting (use --force)\n`);
      return EXIT.USAGE;
    }
    writeFileAtomic(ctx.configPath, STARTER, { mode: 0o644 });
    ctx.out.write(`wrote ${ctx.configPath}; edit the nodes, then run: bulwark validate\n`);
    return EXIT.OK;
  },
};
