import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import { distroFromOsRelease, localUpdatesHost, type UpdatesHost } from './apply.js';
import { NEEDRESTART_CONF, parseAptConfigDump, renderUpdates, securityOriginPatterns, UNATTENDED_CONF } from './render.js';
import { planSources, securityEntries } from './sources.js';

const REPOS = 'CIS Debian 12 L1: Ensure package manager repositories are configured';
const PATCHES = 'CIS Debian 12 L1: Ensure updates, patches, and additional security software are installed';

/** apt.systemd.daily touches this after a successful unattended-upgrade run. */
export const UPGRADE_STAMP = '/var/lib/apt/periodic/upgrade-stamp';
const DAY = 86_400_000;

export interface LastRunFacts {
  /** mtime of the upgrade stamp (ms), if any. */
  stampMs?: number;
  /**
   * Since when unattended-upgrades runs here as Bulwark configured it: the later of its installation (mtime of
   * its dpkg file list) and Bulwark's file for it (written when the config changes), if installed.
   */
  installedMs?: number;
  nowMs: number;
}

/** The "last successful run" verdict. Pure. */
export function lastRunCheck(f: LastRunFacts, maxAgeDays: number): AuditCheck {
  const id = 'updates.last-run';
  const ago = (ms: number) => {
    const h = Math.max(0, (f.nowMs - ms) / 3_600_000);
    return h < 48 ? `${h.toFixed(1)} h ago` : `${(h / 24).toFixed(1)} days ago`;
  };
  if (f.stampMs !== undefined) {
    const ok = f.nowMs - f.stampMs <= maxAgeDays * DAY;
    return { id, status: ok ? 'pass' : 'fail', evidence: `last successful unattended-upgrade run ${ago(f.stampMs)}${ok ? '' : ` (more than ${maxAgeDays} days)`}`, baseline: PATCHES };
  }
  if (f.installedMs !== undefined && f.nowMs - f.installedMs <= maxAgeDays * DAY) {
    return { id, status: 'n/a', evidence: `no run yet: unattended-upgrades set up ${ago(f.installedMs)} (the daily timer runs it within ${maxAgeDays} days)`, baseline: PATCHES };
  }
  return { id, status: 'fail', evidence: f.installedMs === undefined ? 'unattended-upgrades is not installed' : `no successful run since it was set up ${ago(f.installedMs)}`, baseline: PATCHES };
}

async function mtime(root: string, p: string): Promise<number | undefined> {
  try {
    return (await stat(join(root, p))).mtimeMs;
  } catch {
    return undefined;
  }
}

async function installed(h: UpdatesHost, pkg: string): Promise<boolean> {
  const r = await h.exec(['dpkg-query', '-W', '-f', '${Status}', pkg]);
  return r.code === 0 && r.stdout.trim() === 'install ok installed';
}

/** Security updates: the security archive in the sources, unattended-upgrades for it only, needrestart, recent runs. */
export function updatesAudit(host: () => UpdatesHost = () => localUpdatesHost(), root = '/', now = () => Date.now()): AuditProvider<Config> {
  return {
    name: 'updates',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const cfg = ctx.config.updates;
      const checks: AuditCheck[] = [];
      const distro = distroFromOsRelease((await h.read('/etc/os-release')) ?? '');
      const files = await h.readSources();
      const sec = securityEntries(files, distro);
      const plan = planSources(files, distro, ctx.config.provisioning.packages);
      const pending = [...plan.writes.map((w) => w.path), ...plan.removes];
      checks.push({
        id: 'updates.security-source',
        status: sec.length > 0 && pending.length === 0 ? 'pass' : 'fail',
        evidence:
          sec.length === 0
            ? `no enabled apt source for ${distro.codename}-security`
            : `${distro.codename}-security from ${[...new Set(sec.flatMap((e) => e.uris))].join(' ')}` + (pending.length ? `; differs from the config: ${pending.join(', ')}` : ''),
        baseline: REPOS,
      });

      const uu = await installed(h, 'unattended-upgrades');
      const dump = parseAptConfigDump((await h.exec(['apt-config', 'dump'])).stdout);
      const one = (k: string) => dump.get(k)?.filter(Boolean)[0];
      const patterns = (dump.get('Unattended-Upgrade::Origins-Pattern') ?? []).filter(Boolean);
      const allowed = (dump.get('Unattended-Upgrade::Allowed-Origins') ?? []).filter(Boolean);
      const wantPatterns = securityOriginPatterns(distro);
      const periodic = one('APT::Periodic::Unattended-Upgrade') === '1' && one('APT::Periodic::Update-Package-Lists') === '1';
      const securityOnly = patterns.length > 0 && patterns.every((p) => wantPatterns.includes(p)) && allowed.length === 0;
      const problems: string[] = [];
      if (!cfg.enabled) problems.push('updates.enabled is false');
      if (!uu) problems.push('unattended-upgrades not installed');
      if (!periodic) problems.push(`APT::Periodic::Unattended-Upgrade "${one('APT::Periodic::Unattended-Upgrade') ?? ''}", Update-Package-Lists "${one('APT::Periodic::Update-Package-Lists') ?? ''}"`);
      if (!securityOnly) problems.push(`origins: ${[...patterns, ...allowed].join(' | ') || 'none'}`);
      checks.push({
        id: 'updates.unattended-security',
        status: problems.length ? 'fail' : 'pass',
        evidence: problems.length ? problems.join('; ') : `unattended-upgrades daily, security archive only (${patterns.join(' | ')})`,
        baseline: PATCHES,
      });

      const reboot = one('Unattended-Upgrade::Automatic-Reboot') ?? 'false';
      const rebootTime = one('Unattended-Upgrade::Automatic-Reboot-Time');
      const wantReboot = cfg.reboot.enabled ? 'true' : 'false';
      const rebootOk = reboot === wantReboot && (!cfg.reboot.enabled || rebootTime === cfg.reboot.time);
      checks.push({
        id: 'updates.reboot-policy',
        status: rebootOk ? 'pass' : 'fail',
        evidence:
          `Automatic-Reboot "${reboot}"` +
          (cfg.reboot.enabled ? ` at "${rebootTime ?? ''}"` : '') +
          (rebootOk ? ' (as configured)' : `; configured ${wantReboot}${cfg.reboot.enabled ? ` at ${cfg.reboot.time}` : ''}`),
      });

      const nr = await installed(h, 'needrestart');
      const want = renderUpdates(cfg, distro).find((f) => f.path === NEEDRESTART_CONF)?.content;
      const cur = await h.read(NEEDRESTART_CONF);
      const mode = /\$nrconf\{restart\}\s*=\s*'(\w)'/.exec(cur ?? '')?.[1];
      checks.push({
        id: 'updates.needrestart',
        status: nr && cur === want && mode === 'a' ? 'pass' : 'fail',
        evidence: !nr
          ? 'needrestart not installed'
          : cur === undefined
            ? `${NEEDRESTART_CONF} missing`
            : `restart mode '${mode ?? '?'}'${mode === 'a' ? ' (automatic)' : cfg.restartServices ? '' : ' (updates.restartServices is false)'}${cur === want ? '' : `; ${NEEDRESTART_CONF} differs from Bulwark's`}`,
        baseline: PATCHES,
      });

      const installedMs = await mtime(root, '/var/lib/dpkg/info/unattended-upgrades.list');
      const configuredMs = await mtime(root, UNATTENDED_CONF);
      const since = installedMs === undefined ? undefined : Math.max(installedMs, configuredMs ?? 0);
      checks.push(lastRunCheck({ stampMs: await mtime(root, UPGRADE_STAMP), installedMs: since, nowMs: now() }, cfg.maxAgeDays));
      return checks;
    },
  };
}
