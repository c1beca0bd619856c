import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReconcileReport } from '../core/reconciler.js';
import { dropCounters, type MeshLink } from './collect.js';

/** Where the agent's scrape-time metrics come from (node adapters in sources.ts; tests pass their own). */
export interface MetricSources {
  /** `nft -j list table inet bulwark`, or null when the table is absent. */
  nftJson(): Promise<string | null>;
  /** The mesh links of this node, or null when it has not joined. */
  mesh(): Promise<MeshLink[] | null>;
  /** The router's Prometheus text from its Unix socket, or null when it did not answer. */
  routerText(): Promise<string | null>;
  /**
   * Days left of each certificate this node serves. A hook for a certificate source: absent means none
   * on this node, and no bulwark_certificate_days_left metric is exported.
   */
  certificates?(): Promise<{ name: string; daysLeft: number }[]>;
}

/** Agent metric names. */
export const AGENT_METRICS = {
  reconcileDuration: 'bulwark_agent_reconcile_duration_seconds',
  driftRepairs: 'bulwark_agent_drift_repairs_total',
  reconcileErrors: 'bulwark_agent_reconcile_errors_total',
  firewallDroppedPackets: 'bulwark_firewall_dropped_packets_total',
  firewallDroppedBytes: 'bulwark_firewall_dropped_bytes_total',
  meshHandshakeAge: 'bulwark_mesh_handshake_age_seconds',
  meshReceived: 'bulwark_mesh_received_bytes_total',
  meshSent: 'bulwark_mesh_sent_bytes_total',
  routerUp: 'bulwark_router_up',
  certificateDaysLeft: 'bulwark_certificate_days_left',
} as const;

/**
 * The agent's registry: reconcile durations and drift repairs (observed per pass), and at scrape time the
 * firewall's drop counters, the mesh's handshake ages and bytes and whether the router answered; the
 * router's own text is appended by `text()`.
 */
export class AgentMetrics {
  readonly register = new Registry();
  private readonly duration: Histogram<'capability'>;
  private readonly drift: Counter<'capability'>;
  private readonly errors: Counter<'capability'>;
  private routerText: string | null = null;

  constructor(src: MetricSources, opts: { process?: boolean } = {}) {
    const registers = [this.register];
    this.duration = new Histogram({
      name: AGENT_METRICS.reconcileDuration,
      help: 'Duration of one capability reconcile pass.',
      labelNames: ['capability'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
      registers,
    });
    this.drift = new Counter({ name: AGENT_METRICS.driftRepairs, help: 'Drift found and repaired, by capability (one per finding).', labelNames: ['capability'], registers });
    this.errors = new Counter({ name: AGENT_METRICS.reconcileErrors, help: 'Reconcile passes that ended in an error, by capability.', labelNames: ['capability'], registers });
    new Counter({
      name: AGENT_METRICS.firewallDroppedPackets,
      help: 'Packets dropped by table inet bulwark, by chain and rule.',
      labelNames: ['chain', 'rule'],
      registers,
      async collect() {
        this.reset();
        const j = await src.nftJson().catch(() => null);
        if (j) for (const c of dropCounters(j)) this.inc({ chain: c.chain, rule: c.rule }, c.packets);
      },
    });
    new Counter({
      name: AGENT_METRICS.firewallDroppedBytes,
      help: 'Bytes dropped by table inet bulwark, by chain and rule.',
      labelNames: ['chain', 'rule'],
      registers,
      async collect() {
        this.reset();
        const j = await src.nftJson().catch(() => null);
        if (j) for (const c of dropCounters(j)) this.inc({ chain: c.chain, rule: c.rule }, c.bytes);
      },
    });
    let links: Promise<MeshLink[] | null> | undefined;
    // the three mesh metrics share one `wg show dump` per scrape
    const meshOnce = () =>
      (links ??= src
        .mesh()
        .catch(() => null)
        .finally(() => setTimeout(() => (links = undefined), 0)));
    new Gauge({
      name: AGENT_METRICS.meshHandshakeAge,
      help: 'Seconds since the last WireGuard handshake with a peer (absent: never).',
      labelNames: ['peer'],
      registers,
      async collect() {
        this.reset();
        for (const l of (await meshOnce()) ?? []) if (l.handshakeAgeSec !== null) this.set({ peer: l.peer }, l.handshakeAgeSec);
      },
    });
    new Counter({
      name: AGENT_METRICS.meshReceived,
      help: 'Bytes received from a mesh peer (since the interface came up).',
      labelNames: ['peer'],
      registers,
      async collect() {
        this.reset();
        for (const l of (await meshOnce()) ?? []) this.inc({ peer: l.peer }, l.rxBytes);
      },
    });
    new Counter({
      name: AGENT_METRICS.meshSent,
      help: 'Bytes sent to a mesh peer (since the interface came up).',
      labelNames: ['peer'],
      registers,
      async collect() {
        this.reset();
        for (const l of (await meshOnce()) ?? []) this.inc({ peer: l.peer }, l.txBytes);
      },
    });
    const self = this;
    new Gauge({
      name: AGENT_METRICS.routerUp,
      help: "1 when the router's metrics socket answered this scrape.",
      registers,
      async collect() {
        self.routerText = await src.routerText().catch(() => null);
        this.set(self.routerText === null ? 0 : 1);
      },
    });
    if (src.certificates) {
      const certs = src.certificates.bind(src);
      new Gauge({
        name: AGENT_METRICS.certificateDaysLeft,
        help: 'Days until a served certificate expires.',
        labelNames: ['name'],
        registers,
        async collect() {
          this.reset();
          for (const c of await certs().catch(() => [])) this.set({ name: c.name }, c.daysLeft);
        },
      });
    }
    if (opts.process) collectDefaultMetrics({ register: this.register, prefix: 'bulwark_agent_' });
  }

  /** Records one agent pass. */
  observePass(reports: readonly ReconcileReport[]): void {
    for (const r of reports) {
      if (r.durationMs !== undefined) this.duration.observe({ capability: r.name }, r.durationMs / 1000);
      if (r.drift.length) this.drift.inc({ capability: r.name }, r.drift.length);
      if (r.error) this.errors.inc({ capability: r.name });
    }
  }

  /** The whole exposition: the agent's metrics, then the router's (when it answered). */
  async text(): Promise<string> {
    const own = await this.register.metrics();
    const router = this.routerText;
    return router ? `${own.replace(/\n*$/, '\n')}${router.replace(/\n*$/, '\n')}` : own;
  }

  get contentType(): string {
    return this.register.contentType;
  }
}
