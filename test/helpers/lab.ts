import { run } from '../../src/util/exec.js';
import { resolve } from 'node:path';

/** The lab every system test shares (brought up once per run by test/system/global-setup.ts). */
export const LAB_PREFIX = 'bwlab';
export const LAB_STATE = `/var/lib/${LAB_PREFIX}`;
export const LAB_CONFIG = `${LAB_STATE}/bulwark.yaml`;
export const LAB_KEY = `${LAB_STATE}/operator/id_ed25519`;
export const LAB_NODES = [
  { name: 'n1', pub: '192.0.2.11', mgmt: '198.51.100.11', netns: `${LAB_PREFIX}-n1` },
  { name: 'n2', pub: '192.0.2.12', mgmt: '198.51.100.12', netns: `${LAB_PREFIX}-n2` },
  { name: 'n3', pub: '192.0.2.13', mgmt: '198.51.100.13', netns: `${LAB_PREFIX}-n3` },
] as const;
export const OUTSIDE_NS = `${LAB_PREFIX}-out`;

export const CLI = resolve('dist/src/cli/main.js');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell) and collects its output; a non-zero exit is a result, not an error. */
export function runCmd(argv: string[], opts: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return run(argv, { stdin: opts.stdin, env: opts.env, timeoutMs: opts.timeoutMs ?? 600_000 });
}

/** Runs the bulwark CLI from this checkout. */
export function bulwark(args: string[], opts: { config?: string; timeoutMs?: number } = {}): Promise<Ran> {
  const c = opts.config === undefined ? ['-c', LAB_CONFIG] : opts.config === '' ? [] : ['-c', opts.config];
  return runCmd(['node', CLI, ...c, ...args], { timeoutMs: opts.timeoutMs, env: { ...process.env, CI: '1' } });
}

/** The operator's ssh options: the lab key only, no prompts, no host key records. */
export const OPERATOR_SSH = ['-i', LAB_KEY, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];

/** Runs a shell command on a lab machine as root, over the management network. */
export function onMachine(node: string, command: string, timeoutMs = 120_000, stdin?: string): Promise<Ran> {
  const n = LAB_NODES.find((x) => x.name === node);
  if (!n) throw new Error(`no lab node ${node}`);
  return runCmd(['ssh', ...OPERATOR_SSH, '-o', 'LogLevel=ERROR', `root@${n.mgmt}`, command], { timeoutMs, stdin });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One `ssh root@HOST true` as the operator with the lab key and extra ssh options (no config file, no agent). */
export function sshAsOperator(host: string, ...opts: string[]): Promise<Ran> {
  return runCmd(['ssh', '-F', '/dev/null', ...OPERATOR_SSH, ...opts, `root@${host}`, 'true'], { timeoutMs: 30_000 });
}
