import { EXIT, type Command } from '../cli/command.js';
import { Agent } from './agent.js';

export const command: Command = {
  name: 'agent',
  summary: 'run the host agent (what bulwark-agent.service starts)',
  help: `Usage: bulwark agent

Runs the host agent in the foreground, as bulwark-agent.service does (Type=notify: READY=1 once the first
reconcile pass is done, STATUS= a one-line summary, WATCHDOG=1 pings). Reads /etc/bulwark/bulwark.yaml and
/etc/bulwark/node.json; serves the root-only control socket /run/bulwark/agent.sock; reconciles every
capability at start, on SIGHUP (systemctl reload bulwark-agent) and every 20 s. Logs JSON to the journal.

Exit codes: 0 stopped by SIGTERM, 1 could not start.`,
  async run(ctx) {
    const agent = new Agent({ log: ctx.log });
    process.on('SIGHUP', () => void agent.reload());
    const stopped = new Promise<void>((resolve) => {
      const stop = () => void agent.stop().then(resolve, resolve);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await agent.start();
    await stopped;
    ctx.log.info('agent stopped');
    return EXIT.OK;
  },
};
