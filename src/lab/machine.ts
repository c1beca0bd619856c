import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run, runOk } from '../util/exec.js';
import { renderSupervisor } from './supervisor.js';
import type { LabNode, LabPlan } from './topology.js';

export function machineDir(plan: LabPlan, node: LabNode): string {
  return join(plan.stateDir, 'machines', node.name);
}

/** Mounts a fresh overlay over the cached rootfs and writes the machine's own identity into it. */
export async function prepareMachine(plan: LabPlan, node: LabNode, rootfs: string, operatorPubKey: string): Promise<string> {
  const dir = machineDir(plan, node);
  const root = join(dir, 'root');
  for (const d of ['upper', 'work', 'root']) mkdirSync(join(dir, d), { recursive: true });
  await runOk(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${rootfs},upperdir=${dir}/upper,workdir=${dir}/work`, root]);
  writeFileSync(join(root, 'etc/hostname'), `${node.name}\n`);
  writeFileSync(join(root, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${node.name}\n`);
  await runOk(['ssh-keygen', '-q', '-A', '-f', root]);
  mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, 'root/.ssh/authorized_keys'), operatorPubKey.trim() + '\n', { mode: 0o600 });
  chmodSync(join(root, 'root/.ssh'), 0o700);
  writeLabPodmanSettings(root);
  mkdirSync(join(dir, 'containers'), { recursive: true });
  return root;
}

/**
 * Lab-machine configuration, not product behaviour (a real server with cgroup v2 needs none of it): nested
 * podman inside an nspawn machine needs crun without cgroups, no keyring, no sysctls, ulimits the machine
 * may set, and overlay storage on a host directory bound in (overlay on the machine's overlay root fails).
 */
export function writeLabPodmanSettings(root: string): void {
  mkdirSync(join(root, 'etc/containers'), { recursive: true });
  writeFileSync(
    join(root, 'etc/containers/containers.conf'),
    '[containers]\ncgroups = "disabled"\nkeyring = false\ndefault_sysctls = []\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n[engine]\nruntime = "crun"\n',
  );
  writeFileSync(join(root, 'etc/containers/storage.conf'), '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n');
  mkdirSync(join(root, 'etc/bulwark'), { recursive: true });
  writeFileSync(join(root, 'etc/bulwark/containers.env'), '# lab machine: podman runs without cgroups\nBULWARK_PODMAN_CGROUPS=\n');
}

/**
 * What a real machine loses when it reboots but a lab machine's network namespace keeps: its nft ruleset
 * (firewall tables live in the kernel, per namespace). Emptied before every boot, so a lab reboot starts
 * open, as a real one does, and the machine's own boot firewall must close it. Pure.
 */
export function labPowerOnReset(node: LabNode): string[] {
  return ['ip', 'netns', 'exec', node.netns, 'nft', 'flush', 'ruleset'];
}

/** systemd-nspawn's command line for one lab machine (pure). */
export function nspawnArgv(plan: LabPlan, node: LabNode): string[] {
  const dir = machineDir(plan, node);
  return [
    'systemd-nspawn',
    '-D',
    join(dir, 'root'),
    '-b',
    '-M',
    node.name,
    '--register=no',
    '--keep-unit',
    `--network-namespace-path=/run/netns/${node.netns}`,
    '--bind=/dev/net/tun',
    `--bind=${join(dir, 'containers')}:/var/lib/containers`,
    '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
    '--console=read-only',
  ];
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export interface MachineState {
  running: boolean;
  /** systemd-nspawn's PID while it runs. */
  pid?: number;
  /** The supervisor's PID (see supervisor.ts) while it runs. */
  supervisorPid?: number;
  /** How many times the machine booted since it was last started by `lab up`/`lab start`. */
  boots: number;
}

export function machineState(plan: LabPlan, node: LabNode): MachineState {
  const dir = machineDir(plan, node);
  const pid = readPid(join(dir, 'pid'));
  const sup = readPid(join(dir, 'supervisor.pid'));
  const nspawnAlive = pid !== undefined && alive(pid);
  const supAlive = sup !== undefined && alive(sup);
  let boots = 0;
  try {
    boots = readFileSync(join(dir, 'boots'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    boots = 0;
  }
  return { running: nspawnAlive || supAlive, ...(nspawnAlive ? { pid } : {}), ...(supAlive ? { supervisorPid: sup } : {}), boots };
}

/**
 * Boots the machine under its supervisor (supervisor.ts), detached so it outlives this process; a guest
 * reboot boots it again in the same namespace on the same overlay. Returns false when it already runs.
 */
export function bootMachine(plan: LabPlan, node: LabNode): boolean {
  if (machineState(plan, node).running) return false;
  const dir = machineDir(plan, node);
  rmSync(join(dir, 'stop'), { force: true });
  rmSync(join(dir, 'boots'), { force: true });
  const script = join(dir, 'supervisor.sh');
  writeFileSync(script, renderSupervisor({ machine: node.name, dir, argv: nspawnArgv(plan, node), env: { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' }, preBoot: [labPowerOnReset(node)] }), { mode: 0o755 });
  const logFd = openSync(join(dir, 'supervisor.log'), 'a');
  const child = spawn('/bin/sh', [script], { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.unref();
  if (!child.pid) throw new Error(`the supervisor of ${node.name} did not start`);
  return true;
}

/** Waits until the machine's supervisor has started systemd-nspawn for boot number `boot` (1 = first). */
export async function waitForBoot(plan: LabPlan, node: LabNode, boot: number, timeoutMs: number): Promise<MachineState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = machineState(plan, node);
    if (st.boots >= boot && st.pid !== undefined) return st;
    if (Date.now() > deadline) throw new Error(`${node.name} did not boot (boot ${boot}) within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The guest's PID 1 (its systemd): the child of systemd-nspawn that is PID 1 in its own PID namespace. */
export function guestInitPid(nspawnPid: number): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${e}/status`, 'utf8');
    } catch {
      continue;
    }
    const ppid = /^PPid:\s+(\d+)$/m.exec(status)?.[1];
    if (Number(ppid) !== nspawnPid) continue;
    const nspid = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1') return Number(e);
  }
  return undefined;
}

/** systemd(1): SIGRTMIN+5 starts reboot.target, an orderly reboot, like `systemctl reboot` inside. */
const SIGRTMIN = 34;
export const SIG_REBOOT = SIGRTMIN + 5;

/**
 * Reboots a running machine from inside (its systemd gets SIGRTMIN+5), so its nspawn exits 133 and the
 * supervisor boots it again. Returns the boot number to wait for.
 */
export function rebootMachine(plan: LabPlan, node: LabNode): number {
  const st = machineState(plan, node);
  if (st.pid === undefined || st.supervisorPid === undefined) throw new Error(`${node.name} is not running under its supervisor`);
  const init = guestInitPid(st.pid);
  if (init === undefined) throw new Error(`${node.name}: no guest systemd found below systemd-nspawn (PID ${st.pid})`);
  process.kill(init, SIG_REBOOT);
  return st.boots + 1;
}

/**
 * Powers the machine off: marks it "do not boot again", SIGTERMs nspawn (the guest shuts down in order),
 * SIGKILLs what lingers after `timeoutMs`. The overlay (the machine's disk) stays. Returns false when it
 * was not running.
 */
export async function stopMachine(plan: LabPlan, node: LabNode, timeoutMs = 30_000): Promise<boolean> {
  const dir = machineDir(plan, node);
  const st = machineState(plan, node);
  if (!st.running) return false;
  if (existsSync(dir)) writeFileSync(join(dir, 'stop'), '');
  const deadline = Date.now() + timeoutMs;
  const gone = () => {
    const s = machineState(plan, node);
    return !s.running;
  };
  // SIGTERM each nspawn seen: one that the supervisor was just starting (between boots) too.
  const signalled = new Set<number>();
  while (!gone() && Date.now() < deadline) {
    const pid = machineState(plan, node).pid;
    if (pid !== undefined && !signalled.has(pid)) {
      signalled.add(pid);
      process.kill(pid, 'SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!gone()) {
    const s = machineState(plan, node);
    for (const p of [s.supervisorPid, s.pid]) if (p !== undefined && alive(p)) process.kill(p, 'SIGKILL');
    const d2 = Date.now() + 5_000;
    while (!gone() && Date.now() < d2) await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Resolves once `addr:22` sends an SSH banner; rejects after `timeoutMs`. */
export async function waitForSsh(addr: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: addr, port: 22, timeout: 1000 });
      s.once('data', (b) => {
        s.destroy();
        resolve(b.toString().startsWith('SSH-'));
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no SSH on ${addr}:22 after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** True while the process exists and is not a zombie (an orphan's exit may linger unreaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Powers the machine off (stopMachine), unmounts and removes its overlay. */
export async function destroyMachine(plan: LabPlan, node: LabNode): Promise<void> {
  const dir = machineDir(plan, node);
  await stopMachine(plan, node, 10_000);
  // Anything mounted below the machine root (nspawn cleans its own; belt and braces after a crash).
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === join(dir, 'root') || m.startsWith(join(dir, 'root') + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    const r = await run(['umount', m]);
    if (r.code !== 0) await run(['umount', '-l', m]);
  }
  rmSync(dir, { recursive: true, force: true });
}
