import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { run, runOk } from '../util/exec.js';
import { WIREGUARD_GO_UNIT_FILE } from '../config/locate.js';
import { WgDevice } from './wg.js';

export type Backend = 'kernel' | 'wireguard-go';

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A userspace WireGuard process the mesh runtime owns: as its own child, or as a systemd unit. */
export interface UserspaceWireGuard {
  readonly pid: number | undefined;
  readonly restartCount: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** On a node booted with systemd and bootstrapped by Bulwark, wireguard-go runs as its own unit. */
export function wireguardGoUnitAvailable(): boolean {
  return existsSync('/run/systemd/system') && existsSync(WIREGUARD_GO_UNIT_FILE);
}

/**
 * wireguard-go as `bulwark-wireguard-go@IFACE.service`: systemd keeps it running (an agent restart or
 * upgrade leaves the tunnel up) and restarts it if it dies; we watch its control socket directory and
 * reconfigure the fresh, empty interface (`onStart`) whenever a new process has appeared.
 */
export class WireguardGoUnit implements UserspaceWireGuard {
  readonly unit: string;
  private watcher: FSWatcher | undefined;
  private knownPid: number | undefined;
  private restarts = 0;
  private checking: Promise<void> | undefined;

  constructor(
    readonly iface: string,
    private readonly onStart: () => Promise<void>,
    private readonly log?: Logger,
  ) {
    this.unit = `bulwark-wireguard-go@${iface}.service`;
  }

  get pid(): number | undefined {
    return this.knownPid;
  }
  get restartCount(): number {
    return this.restarts;
  }

  /** The unit's main PID, or undefined when it is not running. */
  async mainPid(): Promise<number | undefined> {
    const r = await run(['systemctl', 'show', '-p', 'MainPID', '--value', this.unit]);
    const pid = Number(r.stdout.trim());
    return r.code === 0 && pid > 0 ? pid : undefined;
  }

  /** Starts the unit (a no-op when it runs), waits for the interface and configures it. */
  async start(): Promise<void> {
    await run(['systemctl', 'reset-failed', this.unit]);
    await runOk(['systemctl', 'start', this.unit]);
    const dev = new WgDevice(this.iface);
    if (!(await waitFor(async () => (await dev.dump()) !== null, 5000))) throw new Error(`${this.unit} did not bring up ${this.iface} (journalctl -u ${this.unit})`);
    await this.adopt();
    await this.onStart();
  }

  /** Takes over a running unit (after an agent restart): remembers its PID and watches for restarts. */
  async adopt(): Promise<void> {
    this.knownPid = await this.mainPid();
    if (this.watcher) return;
    const sock = new WgDevice(this.iface).uapiSocket;
    if (!existsSync(dirname(sock))) return;
    this.watcher = watch(dirname(sock), (_event, file) => {
      if (file === basename(sock)) this.checking ??= this.check().finally(() => (this.checking = undefined));
    });
    this.watcher.on('error', () => undefined);
    this.watcher.unref(); // never what keeps a process (a CLI run on the node) alive
  }

  /** A new control socket: if a new process owns it, the interface is fresh and empty, so configure it. */
  private async check(): Promise<void> {
    const dev = new WgDevice(this.iface);
    if (!(await waitFor(async () => (await dev.dump()) !== null, 5000))) return; // stopped, or the reconciler will see it
    const pid = await this.mainPid();
    if (pid === undefined || pid === this.knownPid) return;
    this.knownPid = pid;
    this.restarts++;
    this.log?.warn({ iface: this.iface, unit: this.unit, pid }, 'wireguard-go restarted by systemd; reconfiguring');
    await this.onStart().catch((e: unknown) => this.log?.error({ err: e }, 'reconfiguring after a wireguard-go restart failed'));
  }

  /** Stops the unit (the interface goes away). */
  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    await run(['systemctl', 'stop', this.unit]);
    this.knownPid = undefined;
  }
}

/**
 * Runs `wireguard-go -f IFACE` (in the foreground, in a namespace if given) and restarts it when it dies,
 * calling `onStart` after each (re)start once the interface exists, so the owner reapplies the config
 * (the interface, its address and peers vanish with the process).
 */
export class WireguardGoSupervisor implements UserspaceWireGuard {
  private child: ChildProcess | undefined;
  private stopped = false;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = 0;

  constructor(
    readonly iface: string,
    private readonly onStart: () => Promise<void>,
    private readonly log?: Logger,
    readonly netns?: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }
  get restartCount(): number {
    return this.restarts;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.spawnOnce();
  }

  private async spawnOnce(): Promise<void> {
    const argv = this.netns ? ['ip', 'netns', 'exec', this.netns, 'wireguard-go', '-f', this.iface] : ['wireguard-go', '-f', this.iface];
    const [cmd, ...args] = argv;
    this.lastStart = Date.now();
    const child = spawn(cmd ?? 'wireguard-go', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' } });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      this.log?.warn({ iface: this.iface, code, signal, stderr: stderr.trim() }, 'wireguard-go exited; restarting');
      // Back off when it dies right after starting, so a broken setup does not spin.
      const delay = Date.now() - this.lastStart < 1000 ? Math.min(2000, 100 * 2 ** Math.min(this.restarts, 4)) : 50;
      this.timer = setTimeout(() => {
        this.restarts++;
        this.spawnOnce().catch((e: unknown) => this.log?.error({ err: e }, 'wireguard-go restart failed'));
      }, delay);
    });
    const dev = new WgDevice(this.iface, this.netns);
    const ok = await waitFor(async () => this.child === child && (await dev.dump()) !== null, 5000);
    if (!ok) {
      if (this.child === child) throw new Error(`wireguard-go did not bring up ${this.iface}: ${stderr.trim()}`);
      return;
    }
    await this.onStart();
  }

  /** Stops supervising and ends wireguard-go (the interface goes away). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}
