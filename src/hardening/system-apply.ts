import { lstat, mkdir, readFile, readlink, rm, symlink, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { writeManagedFiles, type FileResult, type HardeningHost } from './apply.js';
import { AUDIT_RULES_FILE, auditUnavailable, CONTAINER_FILE, renderAuditRules } from './auditd.js';
import { renderBanner } from './banner.js';
import { INTEGRITY_TIMER, renderIntegrityUnits, TIMER_WANTS } from './integrity.js';
import { chageArgv, editLoginDefs, editPamUnix, LOGIN_DEFS, loginDefsWanted, PAM_COMMON_PASSWORD, planAging, UMASK_PROFILE, umaskProfile } from './login-defs.js';
import { renderModprobe } from './modules.js';
import type { ManagedFile } from './render.js';
import type { HardeningConfig } from './schema.js';

/** Every whole file Bulwark owns for system hardening (modprobe.d, banners, audit rules, integrity units, umask). Pure. */
export function renderSystemFiles(cfg: HardeningConfig): ManagedFile[] {
  const files = [...renderModprobe(cfg.modules), ...renderBanner(cfg.banner), ...renderAuditRules(cfg.auditd), ...renderIntegrityUnits(cfg.integrity)];
  if (cfg.logins.enabled) files.push({ path: UMASK_PROFILE, content: umaskProfile(cfg.logins), mode: 0o644, mechanism: 'logins.umask-profile' });
  return files;
}

export interface SystemHardeningReport {
  files: FileResult[];
  /** What was repaired or set this pass (files, keys, users), one line each. */
  drift: string[];
  notes: string[];
}

const at = (root: string, p: string) => join(root, p);

async function readOr(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Rewrites a file Bulwark edits in place, keeping its mode and owner (atomic). */
async function rewrite(p: string, text: string): Promise<void> {
  const st = await stat(p);
  writeFileAtomic(p, text, { mode: st.mode & 0o7777 });
}

/** Login policy: the owned keys of login.defs, pam_unix hashing, aging of local password users. */
async function applyLogins(cfg: HardeningConfig, host: HardeningHost, r: SystemHardeningReport, today: number): Promise<void> {
  const lc = cfg.logins;
  if (!lc.enabled) return;
  const defsPath = at(host.root, LOGIN_DEFS);
  const defs = await readOr(defsPath);
  if (defs === undefined) r.notes.push(`${LOGIN_DEFS} missing (package login): not written`);
  else {
    const next = editLoginDefs(defs, loginDefsWanted(lc));
    if (next !== defs) {
      await rewrite(defsPath, next);
      r.drift.push(`${LOGIN_DEFS}: Bulwark's keys set`);
    }
  }
  const pamPath = at(host.root, PAM_COMMON_PASSWORD);
  const pam = await readOr(pamPath);
  const nextPam = pam === undefined ? undefined : editPamUnix(pam, lc);
  if (pam === undefined || nextPam === undefined) r.notes.push(`${PAM_COMMON_PASSWORD}: no pam_unix password line, hashing not set`);
  else if (nextPam !== pam) {
    await rewrite(pamPath, nextPam);
    r.drift.push(`${PAM_COMMON_PASSWORD}: pam_unix ${lc.hash} rounds set`);
  }
  if (!lc.ageExistingUsers) return;
  const shadow = await readOr(at(host.root, '/etc/shadow'));
  if (shadow === undefined) return;
  const plan = planAging(shadow, lc, today);
  for (const user of plan.apply) {
    const c = await host.exec(chageArgv(user, lc, host.root));
    if (c.code === 0) r.drift.push(`password aging set for ${user}`);
    else r.notes.push(`chage ${user} failed: ${c.stderr.trim()}`);
  }
  for (const s of plan.skip) r.notes.push(`password aging not applied to ${s.user}: ${s.reason}`);
}

/** The integrity timer enabled (the symlink `systemctl enable` makes) and, with systemd running, started. */
async function enableTimer(cfg: HardeningConfig, host: HardeningHost, r: SystemHardeningReport, unitsWritten: boolean): Promise<void> {
  if (!cfg.integrity.enabled) return;
  const link = at(host.root, TIMER_WANTS);
  let linked = false;
  try {
    linked = (await lstat(link)).isSymbolicLink() && (await readlink(link)) === INTEGRITY_TIMER;
  } catch {
    linked = false;
  }
  if (!linked) {
    await mkdir(dirname(link), { recursive: true, mode: 0o755 });
    await rm(link, { force: true });
    await symlink(INTEGRITY_TIMER, link);
    r.drift.push('bulwark-integrity.timer enabled');
  }
  if (!host.systemdRunning) return;
  if (unitsWritten || !linked) {
    const d = await host.exec(['systemctl', 'daemon-reload']);
    if (d.code !== 0) r.notes.push(`systemctl daemon-reload failed: ${d.stderr.trim()}`);
  }
  if ((await host.exec(['systemctl', 'is-active', 'bulwark-integrity.timer'])).stdout.trim() !== 'active') {
    const s = await host.exec(['systemctl', 'start', 'bulwark-integrity.timer']);
    if (s.code === 0) r.drift.push('bulwark-integrity.timer started');
    else r.notes.push(`systemctl start bulwark-integrity.timer failed: ${s.stderr.trim()}`);
  }
}

/**
 * Loads the audit rules with augenrules --load when the rules file changed or the merged
 * /etc/audit/audit.rules doesn't hold them yet (only on the real root: augenrules knows no other).
 */
async function loadAuditRules(cfg: HardeningConfig, host: HardeningHost, r: SystemHardeningReport, rulesWritten: boolean): Promise<void> {
  if (!cfg.auditd.enabled) return;
  if (host.root !== '/') return;
  const rules = renderAuditRules(cfg.auditd)[0]!;
  const firstRule = rules.content.split('\n').find((l) => l.startsWith('-'))!;
  const merged = (await readOr('/etc/audit/audit.rules')) ?? '';
  if (!rulesWritten && merged.includes(firstRule)) return;
  const g = await host.exec(['augenrules', '--load']);
  if (g.code === 0) {
    r.drift.push(`${AUDIT_RULES_FILE} loaded (augenrules --load)`);
    return;
  }
  const s = await host.exec(['auditctl', '-s']);
  const container = (await readOr(CONTAINER_FILE))?.trim() ?? '';
  r.notes.push(`audit rules written, not loaded: ${auditUnavailable(s.code, s.stderr, container) ?? (g.stderr.trim().split('\n')[0] || `augenrules exit ${g.code}`)}`);
}

/** Writes every system-hardening file and edit; sets what can be set live; says plainly what is not. */
export async function applySystemHardening(cfg: HardeningConfig, host: HardeningHost, now = new Date()): Promise<SystemHardeningReport> {
  const r: SystemHardeningReport = { files: [], drift: [], notes: [] };
  r.files = await writeManagedFiles(renderSystemFiles(cfg), host.root);
  for (const f of r.files) if (f.status === 'written') r.drift.push(`${f.path} rewritten (missing or changed)`);
  await applyLogins(cfg, host, r, Math.floor(now.getTime() / 86_400_000));
  const written = (mech: string) => r.files.some((f) => f.mechanism.startsWith(mech) && f.status === 'written');
  await enableTimer(cfg, host, r, written('integrity.'));
  await loadAuditRules(cfg, host, r, written('auditd.'));
  return r;
}
