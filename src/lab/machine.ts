import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run, runOk } from '../util/exec.js';
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

/** Boots the machine with systemd-nspawn in its namespace; returns the nspawn PID. */
export function bootMachine(plan: LabPlan, node: LabNode): number {
  const dir = machineDir(plan, node);
  const logFd = openSync(join(dir, 'console.log'), 'w');
  const child = spawn(
    'systemd-nspawn',
    [
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
    ],
    { detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } },
  );
  closeSync(logFd);
  child.unref();
  if (!child.pid) throw new Error(`systemd-nspawn for ${node.name} did not start`);
  writeFileSync(join(dir, 'pid'), String(child.pid));
  return child.pid;
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Powers the machine off (SIGTERM to nspawn), kills it if it lingers, unmounts and removes its overlay. */
export async function destroyMachine(plan: LabPlan, node: LabNode): Promise<void> {
  const dir = machineDir(plan, node);
  const pidFile = join(dir, 'pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid > 0 && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
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
