import type { ManagedFile } from './render.js';
import type { IntegrityConfig } from './system-schema.js';

/**
 * Pure: the file-integrity check. Two parts: the distribution's packages (`dpkg --verify`, compared with
 * the findings recorded when the manifest was made, so a node's pre-existing local changes are a known
 * baseline and not a failure every day), and Bulwark's own files (runtime, units, config), hashed into a
 * manifest at bootstrap and upgrade.
 */

export const INTEGRITY_DIR = '/var/lib/bulwark/integrity';
export const MANIFEST_FILE = `${INTEGRITY_DIR}/manifest.json`;
export const LAST_FILE = `${INTEGRITY_DIR}/last.json`;
export const INTEGRITY_SERVICE = '/etc/systemd/system/bulwark-integrity.service';
export const INTEGRITY_TIMER = '/etc/systemd/system/bulwark-integrity.timer';
export const TIMER_WANTS = '/etc/systemd/system/timers.target.wants/bulwark-integrity.timer';

/** Bulwark's own files: every file under the dirs, and the single files. */
export const BULWARK_OWN = {
  dirs: ['/usr/lib/bulwark'],
  files: [
    '/usr/local/sbin/bulwark',
    '/etc/bulwark/bulwark.yaml',
    '/etc/bulwark/node.json',
    '/etc/systemd/system/bulwark-agent.service',
    '/etc/systemd/system/bulwark-wireguard-go@.service',
    INTEGRITY_SERVICE,
    INTEGRITY_TIMER,
  ],
};

/**
 * Package files Bulwark edits in place (a few keys of them): left out of the package check; the audit
 * checks the keys Bulwark owns in them instead.
 */
export const EDITED_PACKAGE_FILES = ['/etc/login.defs', '/etc/pam.d/common-password'];

export function renderIntegrityUnits(cfg: IntegrityConfig): ManagedFile[] {
  if (!cfg.enabled) return [];
  const service = `# Managed by Bulwark (hardening.integrity); changes are overwritten by the agent.
[Unit]
Description=Bulwark file integrity check (dpkg --verify and Bulwark's manifest)
Documentation=file:///usr/lib/bulwark/README
ConditionPathExists=${MANIFEST_FILE}

[Service]
Type=oneshot
ExecStart=/usr/lib/bulwark/node /usr/lib/bulwark/bulwark.mjs integrity check
Nice=19
IOSchedulingClass=idle
UMask=0077
PrivateTmp=yes
NoNewPrivileges=yes
ProtectHome=read-only
LimitCORE=0
`;
  const timer = `# Managed by Bulwark (hardening.integrity); changes are overwritten by the agent.
[Unit]
Description=Bulwark file integrity check, periodic

[Timer]
OnCalendar=${cfg.onCalendar}
OnBootSec=15min
RandomizedDelaySec=30min
Persistent=true

[Install]
WantedBy=timers.target
`;
  return [
    { path: INTEGRITY_SERVICE, content: service, mode: 0o644, mechanism: 'integrity.service' },
    { path: INTEGRITY_TIMER, content: timer, mode: 0o644, mechanism: 'integrity.timer' },
  ];
}

export interface FileFact {
  sha256: string;
  mode: number;
}

export interface PackageFinding {
  path: string;
  /** dpkg's flag string ("??5??????", "missing"). */
  flags: string;
  /** The file's hash when it exists, so a further change to an already-changed file is seen. */
  sha256?: string;
}

export interface Manifest {
  version: 1;
  createdAt: string;
  /** Bulwark's own files: path → hash and mode. */
  files: Record<string, FileFact>;
  /** `dpkg --verify` findings when the manifest was made (the node's baseline). */
  packageBaseline: PackageFinding[];
}

export interface IntegrityResult {
  version: 1;
  at: string;
  ok: boolean;
  /** Bulwark's files changed (hash or mode), missing, or new under its dirs. */
  bulwark: { changed: string[]; missing: string[]; added: string[] };
  /** Package files changed since the baseline (path and dpkg's flags). */
  packages: { changed: { path: string; flags: string }[]; ignored: number; baseline: number };
  /** Why a part could not run, e.g. dpkg --verify's error. */
  errors: string[];
}

/** `dpkg --verify` output → findings (configuration files marked `c` included). Pure. */
export function parseDpkgVerify(stdout: string): PackageFinding[] {
  const out: PackageFinding[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(missing|\S{9})\s+(?:[cdglr]\s+)?(\/.*)$/.exec(line);
    if (m) out.push({ path: m[2]!, flags: m[1]! });
  }
  return out;
}

/** Glob with `*` for one path segment. Pure. */
export function pathMatches(glob: string, path: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return re.test(path);
}

export function ignoredPackagePath(path: string, cfg: IntegrityConfig, bulwarkPaths: readonly string[]): boolean {
  return EDITED_PACKAGE_FILES.includes(path) || bulwarkPaths.includes(path) || cfg.ignore.some((g) => pathMatches(g, path));
}

/**
 * Compares now with the manifest. `bulwarkNow`: the same paths hashed now (plus any new file under
 * Bulwark's dirs); `packagesNow`: findings now, with hashes for baseline paths that exist. Pure.
 */
export function compareIntegrity(
  manifest: Manifest,
  bulwarkNow: Record<string, FileFact>,
  packagesNow: readonly PackageFinding[],
  cfg: IntegrityConfig,
  at: Date,
  errors: string[] = [],
): IntegrityResult {
  const changed: string[] = [];
  const missing: string[] = [];
  for (const [p, want] of Object.entries(manifest.files)) {
    const cur = bulwarkNow[p];
    if (!cur) missing.push(p);
    else if (cur.sha256 !== want.sha256 || cur.mode !== want.mode) changed.push(p);
  }
  const added = Object.keys(bulwarkNow).filter((p) => !(p in manifest.files));
  const owned = Object.keys(manifest.files);
  const base = new Map(manifest.packageBaseline.map((f) => [f.path, f]));
  const pkgChanged: { path: string; flags: string }[] = [];
  let ignored = 0;
  for (const f of packagesNow) {
    if (ignoredPackagePath(f.path, cfg, owned)) {
      ignored++;
      continue;
    }
    const b = base.get(f.path);
    if (!b || b.flags !== f.flags || b.sha256 !== f.sha256) pkgChanged.push({ path: f.path, flags: f.flags });
  }
  const ok = changed.length === 0 && missing.length === 0 && added.length === 0 && pkgChanged.length === 0 && errors.length === 0;
  return { version: 1, at: at.toISOString(), ok, bulwark: { changed, missing, added }, packages: { changed: pkgChanged, ignored, baseline: manifest.packageBaseline.length }, errors };
}

/** One line naming what changed (at most a few paths). Pure. */
export function summarizeIntegrity(r: IntegrityResult): string {
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ` and ${xs.length - 5} more` : '');
  if (r.bulwark.changed.length) parts.push(`changed: ${list(r.bulwark.changed)}`);
  if (r.bulwark.missing.length) parts.push(`missing: ${list(r.bulwark.missing)}`);
  if (r.bulwark.added.length) parts.push(`new in Bulwark's dirs: ${list(r.bulwark.added)}`);
  if (r.packages.changed.length) parts.push(`package files: ${list(r.packages.changed.map((c) => `${c.path} (${c.flags})`))}`);
  if (r.errors.length) parts.push(`errors: ${r.errors.join('; ')}`);
  return parts.length ? parts.join('; ') : `clean (Bulwark files and packages; ${r.packages.baseline} baseline package findings, ${r.packages.ignored} ignored)`;
}

/** The audit verdict on last.json. Pure. */
export function judgeLastResult(text: string | undefined, cfg: IntegrityConfig, now: Date): { status: 'pass' | 'fail'; evidence: string } {
  if (text === undefined) return { status: 'fail', evidence: `no ${LAST_FILE}: the check never ran (systemctl start bulwark-integrity.service)` };
  let r: IntegrityResult;
  try {
    r = JSON.parse(text) as IntegrityResult;
  } catch {
    return { status: 'fail', evidence: `${LAST_FILE} is not JSON` };
  }
  const ageH = (now.getTime() - Date.parse(r.at)) / 3_600_000;
  if (!Number.isFinite(ageH)) return { status: 'fail', evidence: `${LAST_FILE} has no time` };
  if (!r.ok) return { status: 'fail', evidence: `${r.at}: ${summarizeIntegrity(r)}` };
  if (ageH > cfg.maxAgeHours) return { status: 'fail', evidence: `last clean check ${r.at} is older than ${cfg.maxAgeHours} h` };
  return { status: 'pass', evidence: `${r.at}: ${summarizeIntegrity(r)}` };
}
