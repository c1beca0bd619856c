import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { AuditCheck } from '../core/audit.js';
import type { PassObserver, ReconcileReport } from '../core/reconciler.js';
import { ROUTER_METRICS } from '../router/metrics-paths.js';
import { VERSION } from '../version.js';
import { listenAddresses, samplesOf } from './collect.js';
import { AgentMetrics, type MetricSources } from './registry.js';
import { MetricsServer } from './server.js';
import { localAddresses } from './sources.js';
import { renderStatusPage, type StatusData } from './status-page.js';

export interface ObserveOptions {
  log: Logger;
  nodeName: string;
  config: () => Config | undefined;
  summary: () => string;
  sources: MetricSources;
  /** Every node's mesh address (the mesh's allocation for this config). */
  meshAddresses: (config: Config) => Map<string, string>;
  /** Addresses to bind instead of the mesh and management ones (tests). */
  addresses?: () => string[];
  /** The node's apps and their unit states. */
  apps: () => Promise<StatusData['apps']>;
  /** Audit checks to run every `metrics.auditEveryMinutes` (the status page shows the last run). */
  audit?: () => Promise<AuditCheck[]>;
  /** Node's process metrics (default true). */
  processMetrics?: boolean;
}

/** The agent's metrics endpoint and status page: what they show, where they listen, the periodic audit. */
export class Observability implements PassObserver {
  readonly metrics: AgentMetrics;
  readonly server: MetricsServer;
  private readonly src: MetricSources;
  private lastAudit: StatusData['lastAudit'] = null;
  private auditTimer?: NodeJS.Timeout;
  private auditEvery = 0;

  constructor(private readonly o: ObserveOptions) {
    this.src = o.sources;
    this.metrics = new AgentMetrics(this.src, { process: o.processMetrics ?? true });
    this.server = new MetricsServer(
      {
        metrics: async () => ({ contentType: this.metrics.contentType, body: await this.metrics.text() }),
        statusPage: async () => renderStatusPage(await this.statusData()),
      },
      o.log,
    );
  }

  /** After each agent pass: record it, (re)bind the listeners, keep the audit timer in step with the config. */
  async afterPass(reports: readonly ReconcileReport[]): Promise<void> {
    this.metrics.observePass(reports);
    const c = this.o.config();
    if (!c) return;
    if (!c.metrics.enabled) return this.server.close();
    await this.server.sync(this.addresses(c), c.metrics.port);
    const every = this.o.audit ? c.metrics.auditEveryMinutes : 0;
    if (every !== this.auditEvery) {
      clearInterval(this.auditTimer);
      this.auditEvery = every;
      if (every > 0) {
        this.auditTimer = setInterval(() => void this.runAudit(), every * 60_000);
        this.auditTimer.unref();
        setTimeout(() => void this.runAudit(), 5000).unref();
      }
    }
  }

  addresses(c: Config): string[] {
    if (this.o.addresses) return this.o.addresses();
    const local = localAddresses();
    const mesh = this.meshAddresses(c).get(this.o.nodeName);
    return listenAddresses(local, c.firewall.managementNetworks, mesh && local.includes(mesh) ? mesh : undefined);
  }

  private meshAddresses(c: Config): Map<string, string> {
    try {
      return this.o.meshAddresses(c);
    } catch {
      return new Map();
    }
  }

  async runAudit(): Promise<void> {
    if (!this.o.audit) return;
    try {
      const checks = await this.o.audit();
      const n = (s: string) => checks.filter((c) => c.status === s).length;
      this.lastAudit = {
        at: new Date().toISOString(),
        pass: n('pass'),
        fail: n('fail'),
        na: n('n/a'),
        failing: checks.filter((c) => c.status === 'fail').map((c) => ({ id: c.id, evidence: c.evidence })),
      };
    } catch (e) {
      this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'audit for the status page failed');
    }
  }

  async statusData(): Promise<StatusData> {
    const c = this.o.config();
    let meshAddrs = new Map<string, string>();
    try {
      if (c) meshAddrs = this.o.meshAddresses(c);
    } catch {
      // a config the mesh refuses shows no addresses
    }
    const [mesh, routerText, apps, certs] = await Promise.all([
      this.src.mesh().catch(() => null),
      this.src.routerText().catch(() => null),
      this.o.apps().catch((): StatusData['apps'] => []),
      this.src.certificates ? this.src.certificates().catch(() => null) : Promise.resolve(null),
    ]);
    const sum = (name: string) => (routerText ? samplesOf(routerText, name).reduce((a, s) => a + s.value, 0) : 0);
    return {
      cluster: c?.cluster ?? '?',
      node: this.o.nodeName,
      version: VERSION,
      generatedAt: new Date().toISOString(),
      summary: this.o.summary(),
      nodes: (c?.nodes ?? []).map((n) => ({ name: n.name, endpoint: n.endpoint, meshAddress: meshAddrs.get(n.name), self: n.name === this.o.nodeName })),
      mesh,
      router: routerText
        ? {
            sessions: samplesOf(routerText, ROUTER_METRICS.sessions).map((s) => ({ realm: s.labels.realm ?? '', role: s.labels.role ?? '', count: s.value })),
            connections: sum(ROUTER_METRICS.connections),
            authFailures: sum(ROUTER_METRICS.authFailures),
          }
        : null,
      apps,
      certificates: certs,
      lastAudit: this.lastAudit,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.auditTimer);
    await this.server.close();
  }
}
