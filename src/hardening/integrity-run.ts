import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ExecResult } from '../util/exec.js';
import {
  BULWARK_OWN,
  compareIntegrity,
  INTEGRITY_DIR,
  LAST_FILE,
  MANIFEST_FILE,
  parseDpkgVerify,
  summarizeIntegrity,
  type FileFact,
  type IntegrityResult,
  type Manifest,
  type PackageFinding,
} from './integrity.js';
import type { IntegrityConfig } from './system-schema.js';

/** The imperative side of the integrity check: hashing, dpkg, manifest and result files under a root. */
export interface IntegrityHost {
  root: string;
  exec: (argv: string[]) => Promise<ExecResult>;
  now: () => Date;
}

const at = (root: string, p: string) => join(root, p);

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function fact(file: string): Promise<FileFact | undefined> {
  try {
    const st = await lstat(file);
    if (!st.isFile()) return undefined;
    return { sha256: await sha256(file), mode: st.mode & 0o7777 };
  } catch {
    return undefined;
  }
}

async function walk(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Bulwark's own files as they are now (paths as on the node). */
export async function hashBulwarkFiles(root: string): Promise<Record<string, FileFact>> {
  const out: Record<string, FileFact> = {};
  const paths = [...BULWARK_OWN.files];
  for (const d of BULWARK_OWN.dirs) for (const f of await walk(at(root, d))) paths.push(f.slice(root === '/' ? 0 : root.length));
  for (const p of paths.sort()) {
    const f = await fact(at(root, p));
    if (f) out[p] = f;
  }
  return out;
}

/** `dpkg --verify` findings now, each existing file hashed. */
export async function packageFindings(h: IntegrityHost): Promise<{ findings: PackageFinding[]; error?: string }> {
  const r = await h.exec(['dpkg', ...(h.root === '/' ? [] : [`--root=${h.root}`]), '--verify']);
  // dpkg --verify exits 0 with findings; non-zero means it could not verify
  if (r.code !== 0 && r.stdout.trim() === '') return { findings: [], error: `dpkg --verify: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}` };
  const findings = parseDpkgVerify(r.stdout);
  for (const f of findings) if (f.flags !== 'missing') f.sha256 = (await fact(at(h.root, f.path)))?.sha256;
  return { findings };
}

export interface ManifestWrite {
  manifest: Manifest;
  /** new: no manifest before; unchanged: the old one still holds (kept as it was); updated: re-recorded. */
  status: 'new' | 'unchanged' | 'updated';
  /** What differed from the old manifest (updated only), one line. */
  differences?: string;
}

/**
 * Records the manifest (after bootstrap and upgrade): Bulwark's files and the package baseline. An old
 * manifest that still holds is kept; one that doesn't is replaced and the differences are returned, so
 * whoever re-records sees what the new baseline absorbed.
 */
export async function writeManifest(h: IntegrityHost): Promise<ManifestWrite> {
  const [files, pkgs] = await Promise.all([hashBulwarkFiles(h.root), packageFindings(h)]);
  if (pkgs.error) throw new Error(pkgs.error);
  const m: Manifest = { version: 1, createdAt: h.now().toISOString(), files, packageBaseline: pkgs.findings };
  const old = await readManifest(h.root);
  let status: ManifestWrite['status'] = 'new';
  let differences: string | undefined;
  if (old) {
    const cmp = compareIntegrity(old, files, pkgs.findings, { enabled: true, onCalendar: 'daily', maxAgeHours: 48, ignore: [] }, h.now());
    if (cmp.ok) return { manifest: old, status: 'unchanged' };
    status = 'updated';
    differences = summarizeIntegrity(cmp);
  }
  await mkdir(at(h.root, INTEGRITY_DIR), { recursive: true, mode: 0o700 });
  writeFileAtomic(at(h.root, MANIFEST_FILE), `${JSON.stringify(m, null, 1)}\n`, { mode: 0o600 });
  return { manifest: m, status, ...(differences ? { differences } : {}) };
}

export async function readManifest(root: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(at(root, MANIFEST_FILE), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Runs the check against the manifest and stores the result in last.json. */
export async function runIntegrityCheck(cfg: IntegrityConfig, h: IntegrityHost): Promise<IntegrityResult> {
  const manifest = await readManifest(h.root);
  if (!manifest) throw new Error(`no manifest at ${MANIFEST_FILE}: run bulwark integrity manifest (bootstrap does)`);
  const [now, pkgs] = await Promise.all([hashBulwarkFiles(h.root), packageFindings(h)]);
  // a baseline finding whose file is unchanged is hashed the same; one dpkg no longer reports is fine
  const r = compareIntegrity(manifest, now, pkgs.findings, cfg, h.now(), pkgs.error ? [pkgs.error] : []);
  await mkdir(at(h.root, INTEGRITY_DIR), { recursive: true, mode: 0o700 });
  writeFileAtomic(at(h.root, LAST_FILE), `${JSON.stringify(r, null, 1)}\n`, { mode: 0o600 });
  return r;
}
