import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { bulwark, OUTSIDE_NS, onMachine, waitFor } from './lab.js';

// What the reboot tests share (48-reboot on Debian 12, 50-debian13): an outside port watcher that runs
// through the reboot, and the wait for everything a node runs to be back.

/** How long a node has to bring everything back after a reboot (issue goal). */
export const BACK_WITHIN_MS = 90_000;
/** Ports the outside client tries: the public ones, SSH, and services that must stay closed to it. */
export const WATCHED = [22, 80, 443, 8080, 9110, 7946, 4222, 5432];
const PUBLIC = new Set([80, 443]);

/** [ms since epoch, port, "open" | "refused" | "timeout" | "error:CODE"] */
export type Attempt = [number, number, string];

/** Watchers still running; `killWatchers` in afterAll ends them even when a test failed. */
const children: ChildProcess[] = [];
export function killWatchers(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}

/** Starts the port watcher in the outside namespace; `stop()` ends it and returns every attempt. */
export async function watchPorts(host: string): Promise<{ stop(): Promise<Attempt[]> }> {
  const child = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/port-watch.mjs'), host, WATCHED.join(','), '100', '250'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor('the port watcher', async () => out.includes('watching'), 10_000, 50);
  return {
    stop: () =>
      new Promise<Attempt[]>((res, rej) => {
        child.once('exit', () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (!line) rej(new Error(`port watcher printed no result: ${out.slice(-500)}`));
          else res((JSON.parse(line) as { attempts: Attempt[] }).attempts);
        });
        child.stdin!.end();
      }),
  };
}

/** Attempts that reached a port other than 80/443 (each one a hole in the firewall). */
export const holes = (attempts: Attempt[]) => attempts.filter(([, port, r]) => r === 'open' && !PUBLIC.has(port));

/**
 * What a watcher that ran through a reboot must show: no hole at any time, every watched port tried while
 * the node was down and booting (t0..t1), and 443 answering afterwards (so it watched the right address).
 */
export function expectFailClosed(attempts: Attempt[], t0: number, t1: number): void {
  expect(holes(attempts), JSON.stringify(holes(attempts).slice(0, 5))).toEqual([]);
  const inWindow = attempts.filter(([t]) => t >= t0 && t <= t1);
  for (const p of WATCHED) expect(inWindow.filter(([, port]) => port === p).length, `attempts on ${p} while the node rebooted`).toBeGreaterThan(0);
  expect(attempts.some(([t, p, r]) => t > t1 && p === 443 && r === 'open')).toBe(true);
}

interface LabStatusJson {
  machines: { name: string; running: boolean; boots: number }[];
}
/** How many times the lab's supervisor has booted a machine. */
export async function labBoots(node: string): Promise<number> {
  const j = JSON.parse((await bulwark(['lab', 'status', '--json'], { config: '' })).stdout) as LabStatusJson;
  return j.machines.find((m) => m.name === node)?.boots ?? -1;
}

interface MeshStatus {
  nodes: { node: string; up: boolean; peers: { handshakeAgeSec: number | null; reachable: boolean; present: boolean }[] }[];
}

export interface BackOptions {
  node: string;
  /** The bulwark.yaml of the lab the node is in (undefined: the shared lab's). */
  config?: string;
  /** How many mesh peers the node has. */
  peers: number;
  /** The app unit that must be active again (bulwark-app@NAME). */
  app: string;
  /** An outside WAMP call through the node's router to the app: true once it answers. */
  callApp: () => Promise<boolean>;
}

/**
 * Waits for everything the node runs to be back after a reboot that began at t0: sshd, agent, wireguard-go,
 * the mesh with a handshake with every peer since t0, the router, the app, an outside call through both.
 * Returns the seconds after t0 at which each was seen; fails when all of it took BACK_WITHIN_MS or more.
 */
export async function everythingBack(o: BackOptions, t0: number): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  const mark = (what: string) => (at[what] = Math.round((Date.now() - t0) / 100) / 10);
  const left = () => Math.max(1000, BACK_WITHIN_MS - (Date.now() - t0));
  const active = async (unit: string) => (await onMachine(o.node, `systemctl is-active ${unit}`, 15_000)).stdout.trim() === 'active';
  await waitFor(`sshd on ${o.node}`, async () => (await onMachine(o.node, 'true', 5000)).code === 0, left(), 200);
  mark('ssh');
  await waitFor('bulwark-agent active', () => active('bulwark-agent'), left(), 300);
  mark('agent');
  await waitFor('wireguard-go for bw0 active', () => active('bulwark-wireguard-go@bw0'), left(), 300);
  mark('wireguard-go');
  await waitFor(
    `${o.node}'s mesh: every peer present, reachable, with a handshake since the reboot`,
    async () => {
      const r = await bulwark(['mesh', 'status', '--json'], { config: o.config, timeoutMs: 30_000 });
      if (r.code !== 0) return false;
      const n = (JSON.parse(r.stdout) as MeshStatus).nodes.find((x) => x.node === o.node);
      const since = (Date.now() - t0) / 1000;
      return !!n?.up && n.peers.length === o.peers && n.peers.every((p) => p.present && p.reachable && p.handshakeAgeSec !== null && p.handshakeAgeSec <= since);
    },
    left(),
    500,
  );
  mark('mesh');
  await waitFor('bulwark-router active', () => active('bulwark-router'), left(), 300);
  await waitFor('the app container unit active', () => active(`bulwark-app@${o.app}`), left(), 300);
  mark('app-unit');
  await waitFor('an outside WAMP call through the router to the app', o.callApp, left(), 300);
  mark('wss');
  expect(Date.now() - t0).toBeLessThan(BACK_WITHIN_MS);
  return at;
}

/** The boot firewall's own report of this boot (which ruleset it loaded). */
export const bootFirewallLog = async (node: string) => (await onMachine(node, 'journalctl -b -u bulwark-firewall.service --no-pager -o cat')).stdout;

/** What the agent's firewall found missing or different at its first passes of this boot. */
export const agentDriftThisBoot = async (node: string) => (await onMachine(node, 'journalctl -b -u bulwark-agent --no-pager -o cat | grep firewall.drift.repaired || true')).stdout;
