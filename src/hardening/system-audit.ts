import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { nodeHardeningHost, readDistro, type HardeningHost } from './apply.js';
import { auditRuleGroups, auditUnavailable, CONTAINER_FILE, missingRules } from './auditd.js';
import { bannerLeaks } from './banner.js';
import { LOGIN_DEFS_BASELINES, MODULE_BASELINES, OTHER_BASELINES } from './baselines.js';
import { INTEGRITY_TIMER, judgeLastResult, LAST_FILE, MANIFEST_FILE, TIMER_WANTS } from './integrity.js';
import { LOGIN_DEFS, loginDefsWanted, PAM_COMMON_PASSWORD, pamUnixHashing, planAging, readLoginDefs } from './login-defs.js';
import { loadedModules, modprobeProbeScript, parseModprobeProbe } from './modules.js';
import { renderSystemFiles } from './system-apply.js';
import { moduleKey } from './system-schema.js';

async function readOr(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

const FILE_BASELINES: Record<string, string> = { 'banner.motd': OTHER_BASELINES.motd, 'banner.issue': OTHER_BASELINES.issue, 'banner.issue-net': OTHER_BASELINES.issueNet };

/**
 * System-hardening checks: kernel modules not loadable, login.defs/PAM/aging, banners, audit rules (loaded,
 * or n/a where the kernel's audit subsystem is out of reach), the integrity timer and its last result.
 * `now` is a seam for tests.
 */
export function systemHardeningAudit(host: () => HardeningHost = nodeHardeningHost, now: () => Date = () => new Date()): AuditProvider<Config> {
  return {
    name: 'system-hardening',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const cfg = ctx.config.hardening;
      const checks: AuditCheck[] = [];
      const distro = await readDistro(h.root);
      for (const f of renderSystemFiles(cfg)) {
        const p = join(h.root, f.path);
        const cur = await readOr(p);
        const st = cur === undefined ? undefined : await stat(p);
        const mode = st ? st.mode & 0o777 : 0;
        let status: AuditCheck['status'] = cur === f.content && mode === f.mode && st?.uid === 0 ? 'pass' : 'fail';
        let evidence =
          cur === undefined
            ? `${f.path} missing`
            : cur !== f.content
              ? `${f.path} differs from Bulwark's`
              : mode !== f.mode || st?.uid !== 0
                ? `${f.path} mode ${mode.toString(8)} uid ${st?.uid}, want ${f.mode.toString(8)} root`
                : f.path;
        if (status === 'pass' && f.mechanism.startsWith('banner.')) {
          const leak = bannerLeaks(cur!, distro);
          if (leak) [status, evidence] = ['fail', `${f.path} ${leak}`];
        }
        checks.push({ id: f.mechanism, status, evidence, ...(FILE_BASELINES[f.mechanism] ? { baseline: FILE_BASELINES[f.mechanism] } : {}) });
      }
      if (cfg.modules.enabled) checks.push(...(await moduleChecks(cfg.modules.disable, h)));
      if (cfg.logins.enabled) checks.push(...(await loginChecks(ctx.config, h, now())));
      if (cfg.auditd.enabled) checks.push(...(await auditdChecks(ctx.config, h)));
      if (cfg.integrity.enabled) checks.push(...(await integrityChecks(ctx.config, h, now())));
      return checks;
    },
  };
}

async function moduleChecks(modules: readonly string[], h: HardeningHost): Promise<AuditCheck[]> {
  const script = modprobeProbeScript(modules, h.root === '/' ? undefined : join(h.root, '/etc/modprobe.d'));
  const probe = parseModprobeProbe(modules, (await h.exec(['sh', '-c', script])).stdout);
  const procModules = await h.exec(['cat', '/proc/modules']);
  const loaded = loadedModules(procModules.code === 0 ? procModules.stdout : undefined);
  return modules.map((m) => {
    const p = probe.get(m)!;
    const isLoaded = loaded?.has(moduleKey(m)) ?? false;
    const where = loaded === undefined ? 'this kernel has no loadable module support (no /proc/modules)' : isLoaded ? 'LOADED now (unload it or reboot)' : 'not loaded';
    const ok = p.refused && !isLoaded;
    return {
      id: `modules.${m}`,
      status: ok ? 'pass' : 'fail',
      evidence: `modprobe -n -v: ${p.output.replace(/\s+/g, ' ') || '(nothing)'}; ${where}`,
      ...(MODULE_BASELINES[moduleKey(m)] ? { baseline: MODULE_BASELINES[moduleKey(m)] } : {}),
    } satisfies AuditCheck;
  });
}

async function loginChecks(config: Config, h: HardeningHost, now: Date): Promise<AuditCheck[]> {
  const lc = config.hardening.logins;
  const checks: AuditCheck[] = [];
  const defs = await readOr(join(h.root, LOGIN_DEFS));
  const cur = readLoginDefs(defs ?? '');
  for (const [k, v] of Object.entries(loginDefsWanted(lc))) {
    const seen = cur.get(k);
    checks.push({
      id: `logins.login-defs.${k}`,
      status: seen === v ? 'pass' : 'fail',
      evidence: defs === undefined ? `${LOGIN_DEFS} missing` : `${k} ${seen ?? 'unset'}${seen === v ? '' : `, want ${v}`}`,
      ...(LOGIN_DEFS_BASELINES[k] ? { baseline: LOGIN_DEFS_BASELINES[k] } : {}),
    });
  }
  const pam = await readOr(join(h.root, PAM_COMMON_PASSWORD));
  const hashing = pam === undefined ? { ok: false, evidence: `${PAM_COMMON_PASSWORD} missing` } : pamUnixHashing(pam, lc);
  checks.push({ id: 'logins.pam-unix-hash', status: hashing.ok ? 'pass' : 'fail', evidence: hashing.evidence, baseline: OTHER_BASELINES.pamUnixHash });
  if (lc.ageExistingUsers) {
    const shadow = await readOr(join(h.root, '/etc/shadow'));
    if (shadow === undefined) checks.push({ id: 'logins.password-aging', status: 'fail', evidence: '/etc/shadow unreadable', baseline: OTHER_BASELINES.aging });
    else {
      const plan = planAging(shadow, lc, Math.floor(now.getTime() / 86_400_000));
      const bad = [...plan.apply.map((u) => `${u} (aging differs)`), ...plan.skip.map((s) => `${s.user}: ${s.reason}`)];
      checks.push({
        id: 'logins.password-aging',
        status: bad.length ? 'fail' : 'pass',
        evidence: bad.length
          ? bad.join('; ')
          : plan.ok.length
            ? `users with a password aged ${lc.passMinDays}/${lc.passMaxDays}/${lc.passWarnAge}: ${plan.ok.join(', ')}`
            : 'no local user has a usable password (locked or none)',
        baseline: OTHER_BASELINES.aging,
      });
    }
  }
  return checks;
}

async function auditdChecks(config: Config, h: HardeningHost): Promise<AuditCheck[]> {
  const checks: AuditCheck[] = [];
  const has = (await h.exec(['sh', '-c', 'command -v auditctl && command -v augenrules'])).code === 0;
  checks.push({
    id: 'auditd.installed',
    status: has ? 'pass' : 'fail',
    evidence: has ? 'auditctl and augenrules present' : 'auditctl/augenrules missing (package auditd)',
    baseline: OTHER_BASELINES.auditdInstalled,
  });
  if (!has) return checks;
  if (h.root === '/') {
    const g = await h.exec(['augenrules', '--check']);
    const same = g.code === 0 && /No change/.test(g.stdout);
    checks.push({ id: 'auditd.rules-merged', status: same ? 'pass' : 'fail', evidence: `augenrules --check: ${(g.stdout + g.stderr).trim() || `exit ${g.code}`}` });
  }
  const s = await h.exec(['auditctl', '-s']);
  const container = (await readOr(join(h.root, CONTAINER_FILE)))?.trim() ?? '';
  const why = auditUnavailable(s.code, s.stderr, container);
  const groups = auditRuleGroups(config.hardening.auditd);
  if (why) {
    for (const g of groups) checks.push({ id: `auditd.loaded.${g.key}`, status: 'n/a', evidence: `rules written, not loaded: ${why}`, baseline: g.baseline });
    checks.push({ id: 'auditd.active', status: 'n/a', evidence: `auditd cannot run: ${why}`, baseline: OTHER_BASELINES.auditdActive });
    return checks;
  }
  const list = (await h.exec(['auditctl', '-l'])).stdout;
  for (const g of groups) {
    const miss = missingRules(g.rules, list);
    checks.push({
      id: `auditd.loaded.${g.key}`,
      status: miss.length ? 'fail' : 'pass',
      evidence: miss.length ? `not in the kernel: ${miss.join(' | ')}` : `${g.rules.length} rules loaded (auditctl -l)`,
      baseline: g.baseline,
    });
  }
  if (h.systemdRunning) {
    const a = (await h.exec(['systemctl', 'is-active', 'auditd'])).stdout.trim();
    const e = (await h.exec(['systemctl', 'is-enabled', 'auditd'])).stdout.trim();
    checks.push({ id: 'auditd.active', status: a === 'active' && e === 'enabled' ? 'pass' : 'fail', evidence: `auditd ${a}, ${e}`, baseline: OTHER_BASELINES.auditdActive });
  }
  return checks;
}

async function integrityChecks(config: Config, h: HardeningHost, now: Date): Promise<AuditCheck[]> {
  const ic = config.hardening.integrity;
  const checks: AuditCheck[] = [];
  let enabled = false;
  try {
    enabled = (await lstat(join(h.root, TIMER_WANTS))).isSymbolicLink() && (await readlink(join(h.root, TIMER_WANTS))) === INTEGRITY_TIMER;
  } catch {
    enabled = false;
  }
  let evidence = enabled ? 'bulwark-integrity.timer enabled' : 'bulwark-integrity.timer not enabled';
  let ok = enabled;
  if (enabled && h.systemdRunning) {
    const a = (await h.exec(['systemctl', 'is-active', 'bulwark-integrity.timer'])).stdout.trim();
    ok = a === 'active';
    evidence += `, ${a}`;
  }
  checks.push({ id: 'integrity.timer', status: ok ? 'pass' : 'fail', evidence, baseline: OTHER_BASELINES.integrityRegular });
  const manifest = await readOr(join(h.root, MANIFEST_FILE));
  checks.push({ id: 'integrity.manifest', status: manifest ? 'pass' : 'fail', evidence: manifest ? MANIFEST_FILE : `no ${MANIFEST_FILE} (bulwark integrity manifest; bootstrap runs it)` });
  const last = judgeLastResult(await readOr(join(h.root, LAST_FILE)), ic, now);
  checks.push({ id: 'integrity.last-check', ...last, baseline: OTHER_BASELINES.integrityRegular });
  return checks;
}

export const provider = systemHardeningAudit();
