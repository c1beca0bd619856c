import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/atomic-write.js';
import { run } from '../util/exec.js';

/** The unit files Bulwark ships (units/ in the source tree, /usr/lib/bulwark/units on a node). */
export function unitsSourceDir(): string {
  const candidates = [
    process.env.BULWARK_UNITS_DIR,
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'units'),
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'units'),
    '/usr/lib/bulwark/units',
  ];
  for (const c of candidates) if (c && existsSync(join(c, 'bulwark-router.service'))) return c;
  throw new Error('unit files not found (set BULWARK_UNITS_DIR)');
}

export type UnitSections = Map<string, [string, string][]>;

/** Parses a unit file into sections of key/value pairs in order (continuation lines joined). Pure. */
export function parseUnit(text: string): UnitSections {
  const out: UnitSections = new Map();
  let section: [string, string][] | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      section = out.get(m[1] ?? '') ?? [];
      out.set(m[1] ?? '', section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) continue;
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** Every value of `key` in `section` (systemd keys may repeat; an empty assignment resets the list). */
export function unitValues(u: UnitSections, section: string, key: string): string[] {
  const vals: string[] = [];
  for (const [k, v] of u.get(section) ?? []) {
    if (k !== key) continue;
    if (v === '') vals.length = 0;
    else vals.push(v);
  }
  return vals;
}

/** Splits an Exec*= value into words as systemd does for quoting (no variable expansion). Pure. */
export function splitExecLine(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  const s = value.replace(/^[-@:+!]+/, '');
  while (i < s.length) {
    while (s[i] === ' ') i++;
    if (i >= s.length) break;
    let w = '';
    if (s[i] === '"' || s[i] === "'") {
      const q = s[i++];
      while (i < s.length && s[i] !== q) {
        if (s[i] === '\\' && i + 1 < s.length) {
          w += s[i + 1];
          i += 2;
        } else w += s[i++];
      }
      i++;
    } else {
      while (i < s.length && s[i] !== ' ') w += s[i++];
    }
    words.push(w);
  }
  return words;
}

/** An EnvironmentFile= for systemd: KEY="value" lines, values escaped. Keys must be shell-like names. Pure. */
export function renderEnvFile(vars: Record<string, string | number>, header?: string): string {
  const lines = header ? header.split('\n').map((l) => `# ${l}`) : [];
  for (const [k, v] of Object.entries(vars)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
    const s = String(v);
    if (/[\n\r\0]/.test(s)) throw new Error(`value of ${k} contains a line break or NUL`);
    lines.push(`${k}="${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/`/g, '\\`')}"`);
  }
  return lines.join('\n') + '\n';
}

/** Parses an EnvironmentFile= written by renderEnvFile (and simple KEY=value lines). Pure. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m?.[1]) continue;
    let v = (m[2] ?? '').trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** Writes a file only when its content differs; returns whether it changed. */
export function writeIfChanged(path: string, content: string, mode = 0o644): boolean {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (old === content) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, content, { mode });
  return true;
}

/** Copies our unit files into `destDir` (default /etc/systemd/system); returns the names that changed. */
export function installUnitFiles(names: readonly string[], destDir = '/etc/systemd/system', srcDir = unitsSourceDir()): string[] {
  const changed: string[] = [];
  for (const n of names) if (writeIfChanged(join(destDir, n), readFileSync(join(srcDir, n), 'utf8'))) changed.push(n);
  return changed;
}

/** Every unit file shipped in units/. */
export function shippedUnits(srcDir = unitsSourceDir()): string[] {
  return readdirSync(srcDir)
    .filter((f) => /\.(service|socket|timer|path|target)$/.test(f))
    .sort();
}

export interface OfflineRoot {
  root: string;
  cleanup(): void;
}

/**
 * A throwaway root for `systemd-analyze --root`: the host's stock units (targets etc.), our units in
 * /etc/systemd/system, and executable stubs for every binary our units name that the host may lack
 * (podman, docker) plus stub units they depend on (docker.service). PID 1 need not be systemd.
 */
export function makeOfflineRoot(units: readonly string[], srcDir = unitsSourceDir(), opts: { stubBinaries?: string[]; stubUnits?: string[] } = {}): OfflineRoot {
  const root = mkdtempSync(join(tmpdir(), 'bulwark-units-'));
  const etc = join(root, 'etc/systemd/system');
  const lib = join(root, 'usr/lib/systemd/system');
  mkdirSync(etc, { recursive: true });
  mkdirSync(lib, { recursive: true });
  for (const d of ['/usr/lib/systemd/system', '/lib/systemd/system']) {
    if (existsSync(d)) {
      cpSync(d, lib, { recursive: true, dereference: false, force: false, errorOnExist: false });
      break;
    }
  }
  for (const u of units) copyFileSync(join(srcDir, u), join(etc, u));
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  for (const b of opts.stubBinaries ?? ['/usr/bin/podman', '/usr/bin/docker', '/usr/bin/systemd-tmpfiles', '/usr/bin/install', '/usr/bin/wireguard-go']) {
    const p = join(root, b);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }
  for (const u of opts.stubUnits ?? ['docker.service']) {
    const p = join(lib, u);
    if (!existsSync(p)) writeFileSync(p, `[Unit]\nDescription=stub ${u}\n[Service]\nExecStart=/usr/bin/docker\n`);
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** `systemd-analyze verify` of one unit in an offline root; any output line is a finding. */
export async function verifyUnit(root: string, unit: string): Promise<{ code: number; findings: string[] }> {
  const r = await run(['systemd-analyze', 'verify', '--man=no', `--root=${root}`, unit], { timeoutMs: 60_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } });
  const findings = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return { code: r.code, findings };
}

/** Parses "Overall exposure level for UNIT: 8.8 EXPOSED" from `systemd-analyze security`. Pure. */
export function parseExposure(text: string): Map<string, { score: number; verdict: string }> {
  const out = new Map<string, { score: number; verdict: string }>();
  for (const m of text.matchAll(/Overall exposure level for (\S+): ([0-9.]+) (\w+)/g)) out.set(m[1] ?? '', { score: Number(m[2]), verdict: m[3] ?? '' });
  return out;
}

/**
 * `systemd-analyze security` exposure of units. With `root` it runs offline against that root (no
 * manager needed); without, against the running manager's loaded units.
 */
export async function securityExposure(units: readonly string[], root?: string): Promise<Map<string, { score: number; verdict: string }>> {
  const args = root ? ['--offline=true', ...(root !== '/' ? [`--root=${root}`] : [])] : [];
  const r = await run(['systemd-analyze', 'security', '--no-pager', ...args, ...units], { timeoutMs: 60_000, env: { ...process.env, SYSTEMD_COLORS: '0' } });
  return parseExposure(r.stdout + r.stderr);
}
