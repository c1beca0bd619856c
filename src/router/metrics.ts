import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Router } from './core/router.js';
import { MT_NAME } from './wamp/codes.js';

import { ROUTER_METRICS } from './metrics-paths.js';
export { ROUTER_METRICS, ROUTER_METRICS_DIR, ROUTER_METRICS_SOCKET } from './metrics-paths.js';

/** Open sessions counted by realm and role. Pure over the router's state; run at scrape time only. */
export function sessionsByRealmRole(router: Router): { realm: string; role: string; count: number }[] {
  const out: { realm: string; role: string; count: number }[] = [];
  for (const realm of router.allRealms()) {
    const byRole = new Map<string, number>();
    for (const role of realm.roles.keys()) byRole.set(role, 0);
    for (const s of realm.sessions.values()) {
      // a cluster node counts its own sessions (the realm also holds other nodes' as remote sessions)
      if (!router.sessions.has(s)) continue;
      const role = s.principal?.authrole ?? '';
      byRole.set(role, (byRole.get(role) ?? 0) + 1);
    }
    for (const [role, count] of byRole) out.push({ realm: realm.name, role, count });
  }
  return out;
}

/**
 * A prom-client registry over one router. The hot path only bumps plain numbers (core/stats.ts); every
 * metric here is filled in its `collect()` callback when scraped. `process: true` adds Node's process
 * metrics (memory, CPU, event-loop lag) as `bulwark_router_process_*` etc.
 */
export function routerRegistry(router: Router, opts: { process?: boolean } = {}): Registry {
  const register = new Registry();
  const st = router.stats;
  new Gauge({
    name: ROUTER_METRICS.sessions,
    help: 'Open WAMP sessions by realm and role.',
    labelNames: ['realm', 'role'],
    registers: [register],
    collect() {
      this.reset();
      for (const r of sessionsByRealmRole(router)) this.set({ realm: r.realm, role: r.role }, r.count);
    },
  });
  new Counter({
    name: ROUTER_METRICS.connections,
    help: 'Transport connections accepted.',
    registers: [register],
    collect() {
      this.reset();
      this.inc(st.connections);
    },
  });
  new Counter({
    name: ROUTER_METRICS.messages,
    help: 'WAMP messages received, by message type.',
    labelNames: ['type'],
    registers: [register],
    collect() {
      this.reset();
      st.byType.forEach((n, code) => {
        if (n > 0) this.inc({ type: MT_NAME[code] ?? String(code) }, n);
      });
    },
  });
  new Counter({
    name: ROUTER_METRICS.errors,
    help: 'ERROR messages sent to clients, by error URI.',
    labelNames: ['uri'],
    registers: [register],
    collect() {
      this.reset();
      for (const [uri, n] of st.errors) this.inc({ uri }, n);
    },
  });
  new Gauge({
    name: ROUTER_METRICS.queueBytes,
    help: 'Bytes queued for peers and not yet written, over all connections.',
    registers: [register],
    collect() {
      let total = 0;
      for (const s of router.sessions) total += s.conn.queuedBytes?.() ?? 0;
      this.set(total);
    },
  });
  new Counter({
    name: ROUTER_METRICS.slowConsumers,
    help: 'Connections cut off because their outbound queue passed maxOutboundQueueBytes.',
    registers: [register],
    collect() {
      this.reset();
      this.inc(st.slowConsumers);
    },
  });
  new Counter({
    name: ROUTER_METRICS.authFailures,
    help: 'Failed authentications by method (none: no offered method was acceptable).',
    labelNames: ['method'],
    registers: [register],
    collect() {
      this.reset();
      for (const m of ['ticket', 'wampcra', 'cryptosign', 'none']) this.inc({ method: m }, st.authFailures.get(m) ?? 0);
      for (const [m, n] of st.authFailures) if (!['ticket', 'wampcra', 'cryptosign', 'none'].includes(m)) this.inc({ method: m }, n);
    },
  });
  if (opts.process) collectDefaultMetrics({ register, prefix: 'bulwark_router_' });
  return register;
}

/**
 * Serves `GET /metrics` (Prometheus text) on a Unix socket (mode 0600; the agent, as root, reads it and
 * serves it with its own). The router container has no network: this socket is its only way out.
 */
export async function serveRouterMetrics(register: Registry, path: string, log: Logger): Promise<Server> {
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
  const srv = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (e: unknown) => {
        log.error({ err: e }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  srv.unref();
  log.info({ path }, 'router metrics on a Unix socket');
  return srv;
}
