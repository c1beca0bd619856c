import type { Logger } from 'pino';
import { createLogger } from '../log/logger.js';
import { routerSchema, type RouterConfig, type RouterConfigInput } from './config.js';
import { Router } from './core/router.js';
import { openListener, type OpenListener } from './listeners.js';

export { routerSchema, type RouterConfig, type RouterConfigInput } from './config.js';
export { hashTicket } from './auth/ticket.js';
export { deriveCraKey } from './auth/wampcra.js';

export interface StartOptions {
  log?: Logger;
  /** Socket-activated descriptors by name (from listenFdsByName()). */
  fds?: Map<string, number[]>;
}

export interface RunningRouter {
  router: Router;
  listeners: OpenListener[];
  /** The cluster fabric (config `fabric:`), else undefined. */
  fabric: import('./fabric/fabric.js').Fabric | undefined;
  /** TCP port of listener `i` (useful with port: 0). */
  port(i: number): number;
  close(): Promise<void>;
}

/** Starts the router with every listener of the config; closes what it opened if one fails. */
export async function startRouter(config: RouterConfig | RouterConfigInput, opts: StartOptions = {}): Promise<RunningRouter> {
  const cfg: RouterConfig = routerSchema.parse(config);
  const log = opts.log ?? createLogger({ name: 'bulwark-router' });
  const router = new Router(cfg, log);
  // a cluster node: the fabric (and the nats client) is loaded only then; one node runs exactly as before
  const fabric = cfg.fabric ? await (await import('./fabric/index.js')).startFabric(router, cfg.fabric, log) : undefined;
  const listeners: OpenListener[] = [];
  try {
    for (const [i, l] of cfg.listeners.entries()) listeners.push(await openListener(router, cfg, l, i, opts.fds ?? new Map()));
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    await fabric?.close();
    throw e;
  }
  return {
    router,
    listeners,
    fabric: fabric?.fabric,
    port: (i) => {
      const p = listeners[i]?.port;
      if (p === undefined) throw new Error(`listener ${i} has no TCP port`);
      return p;
    },
    close: async () => {
      router.shutdown();
      await Promise.all(listeners.map((l) => l.close()));
      await fabric?.close();
    },
  };
}
