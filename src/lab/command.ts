import { EXIT, type Command } from '../cli/command.js';

export const command: Command = {
  name: 'TODO',
  summary: '',
  help: 'not built yet',
  async run(ctx) {
    ctx.err.write('not built yet\n');
    return EXIT.USAGE;
  },
};
