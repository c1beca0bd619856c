import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { run } from '../util/exec.js';
import { WgDevice } from './wg.js';

export type Backend = 'kernel' | 'wireguard-go';

/** Tries `ip link add IFACE type wireguard`; false when the kernel has no WireGuard ("Unknown device type"). */
export async function tryKernelInterface(iface: string, netns?: string): Promise<boolean> {
  const r = await run(['ip', 'link', 'add', 'dev', iface, 'type', 'wireguard'], netns ? { netns } : {});
  return r.code === 0;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * Runs `wireguard-go -f IFACE` (in the foreground, in a namespace if given) and restarts it when it dies,
 * calling `onStart` after each (re)start once the interface exists, so the owner reapplies the config
 * (the interface, its address and peers vanish with the process).
 */
export class WireguardGoSupervisor {
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
