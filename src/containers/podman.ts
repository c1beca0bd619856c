import { run, runOk, type ExecResult } from '../util/exec.js';

/**
 * Which podman configuration to use. Empty on a node (the system's /etc/containers); tests and lab
 * machines point CONTAINERS_CONF / CONTAINERS_STORAGE_CONF at their own files.
 */
export interface PodmanEnv {
  containersConf?: string;
  storageConf?: string;
  binary?: string;
}

export function podmanBase(env: PodmanEnv = {}): { argv: string[]; env: NodeJS.ProcessEnv } {
  const e: NodeJS.ProcessEnv = { ...process.env };
  if (env.containersConf) e.CONTAINERS_CONF = env.containersConf;
  if (env.storageConf) e.CONTAINERS_STORAGE_CONF = env.storageConf;
  return { argv: [env.binary ?? 'podman'], env: e };
}

export function podman(args: readonly string[], env: PodmanEnv = {}, timeoutMs = 120_000): Promise<ExecResult> {
  const b = podmanBase(env);
  return run([...b.argv, ...args], { env: b.env, timeoutMs });
}

export function podmanOk(args: readonly string[], env: PodmanEnv = {}, timeoutMs = 120_000): Promise<ExecResult> {
  const b = podmanBase(env);
  return runOk([...b.argv, ...args], { env: b.env, timeoutMs });
}

/** The image reference from `podman load` output ("Loaded image: REF" / "Loaded image(s): REF,..."). Pure. */
export function parseLoadedImage(stdout: string): string | undefined {
  const m = /Loaded image(?:\(s\))?:\s*([^\s,]+)/.exec(stdout);
  return m?.[1];
}

/** Loads an image archive (docker-archive or oci-archive) and returns its reference. */
export async function loadImageArchive(archive: string, env: PodmanEnv = {}): Promise<string> {
  const r = await podmanOk(['load', '--quiet', '--input', archive], env, 600_000);
  const ref = parseLoadedImage(r.stdout + r.stderr);
  if (!ref) throw new Error(`podman load ${archive}: no image reference in output: ${r.stdout.trim()}`);
  return ref;
}

/** `podman import --change ...` argv for a rootfs tar (pure). */
export function importArgv(tar: string, ref: string, opts: { cmd?: readonly string[]; entrypoint?: readonly string[]; user?: string; workdir?: string; env?: Record<string, string> }): string[] {
  const changes: string[] = [];
  if (opts.entrypoint) changes.push(`ENTRYPOINT ${JSON.stringify(opts.entrypoint)}`);
  if (opts.cmd) changes.push(`CMD ${JSON.stringify(opts.cmd)}`);
  if (opts.user) changes.push(`USER ${opts.user}`);
  if (opts.workdir) changes.push(`WORKDIR ${opts.workdir}`);
  for (const [k, v] of Object.entries(opts.env ?? {})) changes.push(`ENV ${k}=${v}`);
  return ['import', ...changes.flatMap((c) => ['--change', c]), tar, ref];
}
