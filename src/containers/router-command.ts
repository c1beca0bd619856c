import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { parseConfigText } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { listenFdsByName, unsetListenEnv } from '../systemd/listen-fds.js';
import { sdNotify } from '../systemd/notify.js';
import { hashTicket } from '../router/auth/ticket.js';
import { routerSchema, type RouterConfig } from '../router/config.js';
import { startRouter } from '../router/index.js';
import { ROUTER_METRICS_DIR, ROUTER_METRICS_SOCKET } from '../router/metrics-paths.js';

const HELP = `Usage: bulwark router --config FILE      run the WAMP router in the foreground
       bulwark router hash-ticket          read a ticket on stdin, print its scrypt hash

FILE holds the router section alone (realms, listeners, components, auth, limits; see
src/router/README.md). Without --config, the router: section of the cluster config (-c) is used.
Listeners with fdName take their socket from systemd (LISTEN_FDNAMES). Logs are pino JSON on stderr.
Stops on SIGTERM/SIGINT. SIGHUP re-reads the principals store (router.principals.store; see
bulwark principal --help) and ends the sessions of revoked principals. Without --config (on a node) it
also serves the apps' component sockets listed in /etc/bulwark/router-components.json and re-reads that
list on SIGHUP (systemctl reload bulwark-router); there the store defaults to
/var/lib/bulwark/principals/principals.json and used activation codes go to /var/lib/bulwark/enrolments.
--metrics-socket PATH serves GET /metrics (Prometheus text) on that Unix socket; on a node it is
/run/bulwark/components/.router/metrics.sock whenever that directory exists (the agent reads it).

Exit codes: 0 stopped cleanly, 2 usage or config error.`;

async function loadRouterConfig(file: string | undefined, clusterConfig: string): Promise<RouterConfig> {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError([{ file, line: 0, col: 0, field: '', message: String((e as Error).message) }]);
    }
    return parseConfigText(routerSchema, text, file);
  }
  const { loadConfig } = await import('../config/index.js');
  return loadConfig(clusterConfig).router;
}

export const command: Command = {
  name: 'router',
  summary: 'run the WAMP router in the foreground (what bulwark-router runs)',
  help: HELP,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: { config: { type: 'string' }, 'metrics-socket': { type: 'string' } }, allowPositionals: true, strict: true });
    if (positionals[0] === 'hash-ticket') {
      const ticket = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      if (ticket.length === 0) throw new UsageError('no ticket on stdin');
      ctx.out.write(hashTicket(ticket) + '\n');
      return EXIT.OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
    let cfg = await loadRouterConfig(values.config, ctx.configPath); // a ConfigError is printed by main (exit 2)
    // On a node, the apps' components (written by `bulwark app add`) join the configured ones; SIGHUP
    // (systemctl reload bulwark-router) opens and closes their sockets without touching other sessions.
    const comps = await import('./router-components.js');
    let base = cfg;
    const withApps = values.config === undefined;
    if (withApps) {
      // on a node the principals store is always there (bulwark principal ...), unless the config points elsewhere
      const { PRINCIPALS_FILE, ENROLMENTS_DIR } = await import('../config/locate.js');
      base.principals.store ??= PRINCIPALS_FILE;
      base.principals.enrolments ??= ENROLMENTS_DIR;
      // the cluster fabric (src/fabric): the agent writes the router's fabric: section on clusters of two or more
      const { FABRIC_ROUTER_SECTION } = await import('../config/locate.js');
      const { readFabricSection, withFabric } = await import('./router-fabric.js');
      const section = readFabricSection(FABRIC_ROUTER_SECTION);
      if (section !== undefined) {
        const f = withFabric(base, section);
        if (f.skipped) ctx.log.warn({ file: FABRIC_ROUTER_SECTION }, f.skipped);
        base = f.cfg;
      }
      cfg = routerSchema.parse(comps.mergeComponents(base, comps.readRouterComponents()));
    }
    const fds = listenFdsByName();
    unsetListenEnv();
    const running = await startRouter(cfg, { log: ctx.log.child({ component: 'router' }), fds });
    // SIGHUP re-reads the principals store: revoked principals' sessions end at once, nothing else moves
    process.on('SIGHUP', () => {
      try {
        const r = running.router.reloadPrincipals();
        if (running.router.book) ctx.log.info(r, 'principals reloaded');
      } catch (e) {
        ctx.log.error({ err: e }, 'principals reload failed; the previous principals stay in force');
      }
    });
    // Metrics leave through a Unix socket the agent reads (the container has no network): on a node by
    // default (the directory comes from the components' tmpfiles.d), elsewhere with --metrics-socket.
    const metricsSocket = values['metrics-socket'] ?? (withApps && existsSync(ROUTER_METRICS_DIR) ? ROUTER_METRICS_SOCKET : undefined);
    if (metricsSocket !== undefined) {
      const m = await import('../router/metrics.js');
      await m.serveRouterMetrics(m.routerRegistry(running.router, { process: true }), metricsSocket, ctx.log.child({ component: 'router' }));
    }
    if (withApps) {
      process.on('SIGHUP', () => {
        comps.applyComponents(running, base, comps.readRouterComponents()).then(
          (r) => ctx.log.info(r, 'components reloaded'),
          (e: unknown) => ctx.log.error({ err: e }, 'components reload failed; the running ones are untouched'),
        );
      });
    }
    await sdNotify({ READY: 1, STATUS: `routing on ${running.listeners.length} listener(s)` });
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        ctx.log.info({ signal: sig }, 'router stopping');
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await sdNotify({ STOPPING: 1 });
    await running.close();
    return EXIT.OK;
  },
};
