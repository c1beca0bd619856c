import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run, type ExecResult } from '../util/exec.js';
import { desiredSysctls, parseOsRelease, renderHardening, type Distro, type ManagedFile, type MaskedUnit } from './render.js';
import type { HardeningConfig } from './schema.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Where hardening acts: the real root by default; a temp dir (files) and a wrapped `sysctl` (namespaces) in tests. */
export interface HardeningHost {
  root: string;
  /** Runs sysctl/systemctl (tests wrap it in a namespace or a read-only /proc/sys). */
  exec: (argv: string[]) => Promise<ExecResult>;
  systemdRunning: boolean;
}

export function nodeHardeningHost(): HardeningHost {
  return { root: '/', exec: (argv) => run(argv, { timeoutMs: 15_000 }), systemdRunning: existsSync('/run/systemd/system') };
}

const at = (root: string, p: string) => join(root, p);

export interface FileResult {
  path: string;
  mechanism: string;
  status: 'unchanged' | 'written';
}

/** Writes each file whose content or mode differs (atomically: temp file + rename); reports "unchanged" otherwise. */
export async function writeManagedFiles(files: readonly ManagedFile[], root: string): Promise<FileResult[]> {
  const out: FileResult[] = [];
  for (const f of files) {
    const p = at(root, f.path);
    let same = false;
    try {
      const [cur, st] = await Promise.all([readFile(p, 'utf8'), lstat(p)]);
      same = cur === f.content && st.isFile() && (st.mode & 0o777) === f.mode;
    } catch {
      same = false;
    }
    if (!same) {
      await mkdir(dirname(p), { recursive: true, mode: 0o755 });
      writeFileAtomic(p, f.content, { mode: f.mode });
    }
    out.push({ path: f.path, mechanism: f.mechanism, status: same ? 'unchanged' : 'written' });
  }
  return out;
}

/** Masks units by symlinking them to /dev/null (what `systemctl mask` writes). */
export async function maskUnits(units: readonly MaskedUnit[], root: string): Promise<FileResult[]> {
  const out: FileResult[] = [];
  for (const u of units) {
    const p = at(root, u.path);
    let same = false;
    try {
      same = (await lstat(p)).isSymbolicLink() && (await readlink(p)) === '/dev/null';
    } catch {
      same = false;
    }
    if (!same) {
      await mkdir(dirname(p), { recursive: true, mode: 0o755 });
      await rm(p, { force: true });
      await symlink('/dev/null', p);
    }
    out.push({ path: u.path, mechanism: u.mechanism, status: same ? 'unchanged' : 'written' });
  }
  return out;
}

export interface SysctlResult {
  key: string;
  want: string;
  live?: string;
  /** "live", or "written, not live: read-only" / "... unknown key" / "... <error>". */
  status: 'live' | 'not-live';
  detail: string;
  /** True when the kernel already had the value before this pass. */
  wasLive: boolean;
}

const norm = (v: string) => v.trim().replace(/\s+/g, ' ');

type SysctlRead = { value?: string; error?: string };

/**
 * `sysctl KEY...` output as key → value, or → the error line that names the key (procps reports each
 * key it cannot read or set on stderr and goes on with the others). Pure.
 */
export function parseSysctlOutput(keys: readonly string[], stdout: string, stderr: string): Map<string, SysctlRead> {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) = (.*)$/.exec(line);
    if (m) values.set(m[1]!, norm(m[2]!));
  }
  const errors = stderr.split('\n').filter((l) => l.trim() !== '');
  const out = new Map<string, SysctlRead>();
  for (const key of keys) {
    const v = values.get(key);
    if (v !== undefined) {
      out.set(key, { value: v });
      continue;
    }
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const line = errors.find((l) => l.includes(`"${key}"`) || l.includes(`${path}:`) || l.endsWith(path));
    out.set(key, { error: (line ?? 'not reported by sysctl').trim() });
  }
  return out;
}

/** Reads every key with one `sysctl` call (a process per key made each agent pass take most of a second). */
export async function readSysctls(keys: readonly string[], exec: HardeningHost['exec']): Promise<Map<string, SysctlRead>> {
  if (keys.length === 0) return new Map();
  const r = await exec(['sysctl', ...keys]);
  return parseSysctlOutput(keys, r.stdout, r.stderr);
}

/** Classifies why a sysctl could not be set. Pure. */
export function notLiveReason(stderr: string): string {
  if (/Read-only file system/i.test(stderr)) return 'written, not live: read-only';
  if (/cannot stat|No such file or directory|unknown key/i.test(stderr)) return 'written, not live: unknown key on this kernel';
  if (/Permission denied|Operation not permitted/i.test(stderr)) return 'written, not live: permission denied';
  if (/Invalid argument/i.test(stderr)) return 'written, not live: kernel refused the value';
  return `written, not live: ${stderr.trim().split('\n')[0] ?? 'error'}`;
}

/** True when the mount holding /proc/sys/KEY is read-only (mountinfo text, as inside an nspawn machine). Pure. */
export function sysctlPathReadOnly(mountinfo: string, key: string): boolean {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  let best: { point: string; ro: boolean } | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const point = f[4];
    const opts = f[5];
    if (!point || !opts) continue;
    if (path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`)) {
      if (!best || point.length >= best.point.length) best = { point, ro: opts.split(',').includes('ro') };
    }
  }
  return best?.ro ?? false;
}

/**
 * Sets the keys that are not live yet with one `sysctl -w` (procps goes on past a key it cannot set and
 * names it on stderr, so one failure hides nothing) and reads them back: at most three processes a pass.
 */
export async function applySysctls(entries: readonly { key: string; value: string }[], exec: HardeningHost['exec']): Promise<SysctlResult[]> {
  let mountinfo: string | undefined;
  // procps reports EROFS as "permission denied"; the mount table says which it was
  const reason = async (key: string, stderr: string) => {
    if (/cannot stat|No such file or directory/i.test(stderr)) return notLiveReason(stderr);
    mountinfo ??= (await exec(['cat', '/proc/self/mountinfo'])).stdout;
    return sysctlPathReadOnly(mountinfo, key) ? 'written, not live: read-only' : notLiveReason(stderr);
  };
  const before = await readSysctls(
    entries.map((e) => e.key),
    exec,
  );
  const todo = entries.filter(({ key, value }) => before.get(key)?.value !== norm(value));
  const todoKeys = todo.map((e) => e.key);
  let failed = new Map<string, SysctlRead>();
  let after = new Map<string, SysctlRead>();
  if (todo.length > 0) {
    const w = await exec(['sysctl', '-w', ...todo.map(({ key, value }) => `${key}=${value}`)]);
    failed = parseSysctlOutput(todoKeys, w.stdout, w.stderr);
    after = await readSysctls(todoKeys, exec);
  }
  const out: SysctlResult[] = [];
  for (const { key, value } of entries) {
    const want = norm(value);
    const cur = before.get(key);
    if (cur?.value === want) {
      out.push({ key, want, live: cur.value, status: 'live', detail: 'live', wasLive: true });
      continue;
    }
    const now = after.get(key)?.value;
    const err = failed.get(key)?.error;
    if (err === undefined && now === want) out.push({ key, want, live: now, status: 'live', detail: 'live', wasLive: false });
    else out.push({ key, want, live: now, status: 'not-live', wasLive: false, detail: err !== undefined ? await reason(key, err) : `written, not live: kernel shows ${now ?? '?'}` });
  }
  return out;
}

export async function readDistro(root: string): Promise<Distro> {
  try {
    return parseOsRelease(await readFile(at(root, '/etc/os-release'), 'utf8'));
  } catch {
    return { id: 'unknown' };
  }
}

export interface HardeningReport {
  files: FileResult[];
  sysctls: SysctlResult[];
  notes: string[];
}

/** Writes every owned file, masks the dump services, applies sysctls live; says plainly what is not live. */
export async function applyHardening(cfg: HardeningConfig, host: HardeningHost): Promise<HardeningReport> {
  const distro = await readDistro(host.root);
  const { files, masked } = renderHardening(cfg, distro);
  const written = [...(await writeManagedFiles(files, host.root)), ...(await maskUnits(masked, host.root))];
  const notes: string[] = [];
  if (host.systemdRunning && written.some((w) => w.status === 'written' && (w.path.startsWith('/etc/systemd/') || w.mechanism.endsWith('-service')))) {
    const r = await host.exec(['systemctl', 'daemon-reload']);
    if (r.code !== 0) notes.push(`systemctl daemon-reload failed: ${r.stderr.trim()}`);
    notes.push('DefaultLimitCORE=0 takes effect for services started after the next daemon-reexec or boot');
  }
  const sysctls = await applySysctls(desiredSysctls(cfg), host.exec);
  for (const s of sysctls) if (s.status !== 'live') notes.push(`${s.key} ${s.detail}`);
  return { files: written, sysctls, notes };
}
