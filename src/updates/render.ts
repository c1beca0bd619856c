import type { UpdatesConfig } from './schema.js';
import type { DistroInfo } from './sources.js';

/** Files Bulwark owns for unattended security updates (besides the apt sources). */
export const AUTO_UPGRADES = '/etc/apt/apt.conf.d/20auto-upgrades';
export const UNATTENDED_CONF = '/etc/apt/apt.conf.d/52bulwark-unattended-upgrades';
export const NEEDRESTART_CONF = '/etc/needrestart/conf.d/50-bulwark.conf';

export interface RenderedFile {
  path: string;
  content: string;
}

/**
 * unattended-upgrades' origin patterns for the distro's security archive only (matched against each
 * archive's Release file: Origin, Codename/Suite, Label). Pure.
 */
export function securityOriginPatterns(distro: DistroInfo): string[] {
  if (distro.id === 'ubuntu') return ['origin=Ubuntu,archive=${distro_codename}-security,label=Ubuntu'];
  return ['origin=Debian,codename=${distro_codename}-security,label=Debian-Security'];
}

/**
 * The apt and needrestart files for `updates:`. The package's own 50unattended-upgrades stays as shipped;
 * ours sorts after it and `#clear`s its origin lists first, so only the security archive is upgraded. Pure.
 */
export function renderUpdates(cfg: UpdatesConfig, distro: DistroInfo): RenderedFile[] {
  const on = cfg.enabled ? '1' : '0';
  const head = (key: string) => `// Written by Bulwark (${key}). The agent rewrites this file; change the config instead.\n`;
  const auto = `${head('updates.enabled')}APT::Periodic::Update-Package-Lists "${on}";\nAPT::Periodic::Unattended-Upgrade "${on}";\n`;
  const patterns = securityOriginPatterns(distro)
    .map((p) => `  "${p}";\n`)
    .join('');
  const unattended =
    head('updates') +
    '// Security updates only: the lists from 50unattended-upgrades are cleared, then the security archive named.\n' +
    '#clear Unattended-Upgrade::Allowed-Origins;\n' +
    '#clear Unattended-Upgrade::Origins-Pattern;\n' +
    `Unattended-Upgrade::Origins-Pattern {\n${patterns}};\n` +
    `Unattended-Upgrade::Automatic-Reboot "${cfg.reboot.enabled ? 'true' : 'false'}";\n` +
    (cfg.reboot.enabled ? `Unattended-Upgrade::Automatic-Reboot-Time "${cfg.reboot.time}";\n` : '') +
    'Unattended-Upgrade::Automatic-Reboot-WithUsers "true";\n' +
    // a half-done run (power cut, reboot) is finished next time rather than left for an operator
    'Unattended-Upgrade::AutoFixInterruptedDpkg "true";\n';
  const needrestart =
    `# Written by Bulwark (updates.restartServices). The agent rewrites this file; change the config instead.\n` +
    `# 'a': restart services that still use replaced libraries without asking; 'l': only list them.\n` +
    `$nrconf{restart} = '${cfg.restartServices ? 'a' : 'l'}';\n`;
  return [
    { path: AUTO_UPGRADES, content: auto },
    { path: UNATTENDED_CONF, content: unattended },
    { path: NEEDRESTART_CONF, content: needrestart },
  ];
}

/** Values of `apt-config dump` output: key → values (a list key has several). Pure. */
export function parseAptConfigDump(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^(\S+?)(?:::)?\s+"(.*)";$/.exec(line.trim());
    if (!m) continue;
    const key = (m[1] as string).replace(/::$/, '');
    out.set(key, [...(out.get(key) ?? []), m[2] as string]);
  }
  return out;
}
