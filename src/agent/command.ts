import type { Config } from '../config/schema.js';
import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import type { ObserverContext, PassObserver, Reconciler } from '../core/reconciler.js';
import { Agent } from './agent.js';

/**
 * `bulwark agent`; `reconcilers` are the capabilities' reconcilers, in order, and `observers` what follows each
 * pass (the metrics endpoint) (src/cli/plugins.ts).
 */
export const agentCommand = (reconcilers: () => Promise<Reconciler<Config>[]>, observers?: (ctx: ObserverContext<Config>) => Promise<PassObserver[]>): Command => ({
  name: 'agent',
  summary: 'run the host agent (what bulwark-agent.service starts)',
  help: `Usage: bulwark agent
       bulwark agent reload

Runs the host agent in the foreground, as bulwark-agent.service does (Type=notify: READY=1 once the first
reconcile pass is done, STATUS= a one-line summary, WATCHDOG=1 pings). Reads /etc/bulwark/bulwark.yaml and
/etc/bulwark/node.json; serves the root-only control socket /run/bulwark/agent.sock; reconciles every
capability at start, on reload and every 20 s. Logs JSON to the journal.
"agent reload" (what systemctl reload bulwark-agent runs) asks the running agent to re-read its config and
reconcile, and returns when that is done; a bad config is rejected and the last good one kept.

Exit codes: 0 stopped by SIGTERM / reloaded, 1 could not start / the reloaded config was rejected.`,
  async run(ctx, args) {
    const { positionals } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
    if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'reload')) throw new UsageError(`unexpected ${positionals.join(' ')}`);
    if (positionals[0] === 'reload') {
      const { askAgent } = await import('./control.js');
      const { AGENT_SOCKET } = await import('../config/locate.js');
      const st = (await askAgent(AGENT_SOCKET, { op: 'reload' }, 120_000)) as { summary?: string; error?: string };
      if (st.error) throw new Error(st.error);
      ctx.out.write(`${st.summary}\n`);
      return st.summary?.startsWith('config error') ? EXIT.CHECK_FAILED : EXIT.OK;
    }
    const agent = new Agent({ log: ctx.log, reconcilers: await reconcilers(), ...(observers ? { observers } : {}) });
    process.on('SIGHUP', () => void agent.reload());
    const stopped = new Promise<void>((resolve) => {
      const stop = () => void agent.stop().then(resolve, resolve);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await agent.start();
    await stopped;
    ctx.log.info('agent stopped');
    // Handles the reconcilers keep (the mesh message server, watches) would hold the process until systemd's
    // stop timeout; leave once the log line is out. Nothing runs on a node that must outlive the agent here
    // (wireguard-go and the containers are their own units).
    setTimeout(() => process.exit(EXIT.OK), 300).unref();
    return EXIT.OK;
  },
});
