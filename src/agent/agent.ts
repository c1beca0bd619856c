import { setTimeout as nodeSetTimeout } from 'node:timers';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/index.js';
import { AGENT_SOCKET, NODE_CONFIG, NODE_IDENTITY } from '../config/locate.js';
import type { Config } from '../config/schema.js';
import { sdNotify, watchdogIntervalMs } from '../systemd/notify.js';
import { VERSION } from '../version.js';
import { serveControl, type ControlRequest } from './control.js';
import type { ObserverContext, PassObserver, ReconcileReport, Reconciler } from '../core/reconciler.js';

export interface AgentStatus {
  node: string;
  version: string;
  pid: number;
  startedAt: string;
  uptimeSec: number;
  configError?: string;
  lastReconcile?: { at: string; durationMs: number; reports: ReconcileReport[] };
  summary: string;
}

export interface AgentOptions {
  log: Logger;
  configPath?: string;
  identityPath?: string;
  socketPath?: string;
  intervalMs?: number;
  /** Every capability's reconciler, in the order they run (src/cli/plugins.ts). */
  reconcilers: Reconciler<Config>[];
  /** How long one reconciler may hold up a pass (default 15 s); it finishes in the background. */
  budgetMs?: number;
  /** Those that follow each pass (the metrics endpoint, src/metrics; the list is src/cli/plugins.ts). */
  observers?: (ctx: ObserverContext<Config>) => Promise<PassObserver[]>;
}

/** One line for `systemctl status` (STATUS=) and `bulwark status`. Pure. */
export function summarize(reports: ReconcileReport[] | undefined, configError?: string): string {
  if (configError) return `config error: ${configError.split('\n')[0]}`;
  if (!reports) return 'starting';
  const failed = reports.filter((r) => r.error);
  const drift = reports.reduce((n, r) => n + r.drift.length, 0);
  const parts = [`${reports.length} capabilit${reports.length === 1 ? 'y' : 'ies'} reconciled`];
  parts.push(drift ? `${drift} drift repaired` : 'no drift');
  if (failed.length) parts.push(`${failed.length} failing: ${failed.map((r) => r.name).join(', ')}`);
  return parts.join(', ');
}

export class Agent {
  private config?: Config;
  private configError?: string;
  private reconcilers: Reconciler<Config>[] = [];
  private last?: AgentStatus['lastReconcile'];
  private running?: Promise<ReconcileReport[]>;
  private timer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private server?: Server;
  private readonly started = new Date();
  /** Told each pass's reports (the metrics endpoint). */
  private observers: PassObserver[] = [];
  readonly node: string;

  constructor(private readonly o: AgentOptions) {
    this.node = (JSON.parse(readFileSync(o.identityPath ?? NODE_IDENTITY, 'utf8')) as { name: string }).name;
  }

  private loadConfig(): void {
    try {
      this.config = loadConfig(this.o.configPath ?? NODE_CONFIG);
      this.configError = undefined;
    } catch (e) {
      // Keep the last good config; report the problem.
      this.configError = e instanceof ConfigError ? e.message : String(e);
      this.o.log.error({ problem: this.configError }, 'config rejected; keeping the last good one');
    }
  }

  status(): AgentStatus {
    return {
      node: this.node,
      version: VERSION,
      pid: process.pid,
      startedAt: this.started.toISOString(),
      uptimeSec: Math.round((Date.now() - this.started.getTime()) / 1000),
      configError: this.configError,
      lastReconcile: this.last,
      summary: summarize(this.last?.reports, this.configError),
    };
  }

  /** Runs every reconciler once (never two passes at a time). */
  reconcile(): Promise<ReconcileReport[]> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** A reconciler still working past its budget in an earlier pass, by name: skipped until it finishes. */
  private readonly slow = new Map<string, Promise<ReconcileReport>>();

  private async pass(): Promise<ReconcileReport[]> {
    const t0 = Date.now();
    const reports: ReconcileReport[] = [];
    const config = this.config;
    const budgetMs = this.o.budgetMs ?? 15_000;
    if (config) {
      for (const r of this.reconcilers) {
        if (this.slow.has(r.name)) {
          reports.push({ name: r.name, changed: false, drift: [], notes: [], error: 'still busy with an earlier pass' });
          continue;
        }
        const started = Date.now();
        const work = r.reconcile({ config, nodeName: this.node, log: this.o.log.child({ capability: r.name }) }).catch((e: unknown): ReconcileReport => {
          this.o.log.error({ capability: r.name, err: e }, 'reconcile failed');
          return { name: r.name, changed: false, drift: [], notes: [], error: e instanceof Error ? e.message : String(e) };
        });
        // One slow capability (an image build, a hung tool) must not hold up the others' repairs.
        const budget = new Promise<undefined>((res) => {
          const t: NodeJS.Timeout = nodeSetTimeout(() => res(undefined), budgetMs);
          t.unref();
        });
        const rep = await Promise.race([work, budget]);
        if (!rep) {
          this.slow.set(r.name, work);
          void work.then((late) => {
            this.slow.delete(r.name);
            if (late.drift.length) this.o.log.warn({ capability: r.name, drift: late.drift }, 'drift found and repaired (late)');
          });
          this.o.log.warn({ capability: r.name, budgetMs }, 'reconcile still running; other capabilities go on');
          reports.push({ name: r.name, changed: false, drift: [], notes: [], error: 'still running after its time budget' });
          continue;
        }
        if (rep.drift.length) this.o.log.warn({ capability: r.name, drift: rep.drift }, 'drift found and repaired');
        reports.push({ ...rep, durationMs: Date.now() - started });
      }
    }
    this.last = { at: new Date().toISOString(), durationMs: Date.now() - t0, reports };
    for (const o of this.observers) {
      try {
        await o.afterPass(reports);
      } catch (e) {
        this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'pass observer failed');
      }
    }
    await sdNotify({ STATUS: summarize(reports, this.configError) });
    return reports;
  }

  async start(): Promise<void> {
    this.loadConfig();
    this.reconcilers = this.o.reconcilers;
    this.observers =
      (await this.o.observers?.({
        nodeName: this.node,
        log: this.o.log.child({ component: 'metrics' }),
        config: () => this.config,
        summary: () => summarize(this.last?.reports, this.configError),
      })) ?? [];
    this.server = await serveControl(this.o.socketPath ?? AGENT_SOCKET, (req: ControlRequest) =>
      req.op === 'status' ? Promise.resolve(this.status()) : (req.op === 'reload' ? this.reload() : this.reconcile()).then(() => this.status()),
    );
    const wd = watchdogIntervalMs();
    if (wd) this.watchdog = setInterval(() => void sdNotify({ WATCHDOG: 1 }), Math.max(1000, Math.floor(wd / 3)));
    await this.reconcile();
    await sdNotify({ READY: 1, STATUS: summarize(this.last?.reports, this.configError) });
    const every = this.o.intervalMs ?? 20_000;
    this.timer = setInterval(() => void this.reconcile(), every);
    this.o.log.info({ node: this.node, version: VERSION, reconcilers: this.reconcilers.map((r) => r.name), intervalMs: every }, 'agent ready');
  }

  /** Re-reads the config (keeping the last good one if it is bad) and reconciles; resolves when done. */
  async reload(): Promise<void> {
    this.loadConfig();
    await this.running; // a pass already under way used the old config
    await this.reconcile();
  }

  async stop(): Promise<void> {
    await sdNotify({ STOPPING: 1 });
    if (this.timer) clearInterval(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    for (const o of this.observers) await o.close().catch(() => undefined);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
