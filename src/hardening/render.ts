import type { HardeningConfig } from './schema.js';

/** Pure renderers: every file Bulwark owns for dump suppression and sysctl hardening. */

export interface ManagedFile {
  /** Absolute path on the node (the adapter prefixes a root directory). */
  path: string;
  content: string;
  mode: number;
  /** Which mechanism the file belongs to (audit ids). */
  mechanism: string;
}
/** A unit masked with a symlink to /dev/null (what `systemctl mask` does), so it works without a running systemd. */
export interface MaskedUnit {
  unit: string;
  path: string;
  mechanism: string;
}

export interface Distro {
  id: string;
  versionId?: string;
}

const HEADER = '# Managed by Bulwark (hardening); changes are overwritten by the agent.\n';

export const DUMP_SYSCTLS: Record<string, string> = {
  'kernel.core_pattern': '|/bin/false',
  'fs.suid_dumpable': '0',
  'kernel.kexec_load_disabled': '1',
};

/**
 * Kernel hardening. rp_filter is 2 (loose): strict mode drops WireGuard's replies when routes are asymmetric;
 * forwarding is off (the mesh doesn't route, app containers have no network of their own).
 */
export const HARDENING_SYSCTLS: Record<string, string> = {
  'kernel.kptr_restrict': '2',
  'kernel.dmesg_restrict': '1',
  'kernel.unprivileged_bpf_disabled': '1',
  'net.core.bpf_jit_harden': '2',
  'kernel.yama.ptrace_scope': '2',
  'kernel.perf_event_paranoid': '3',
  'kernel.sysrq': '0',
  'kernel.randomize_va_space': '2',
  'fs.protected_fifos': '2',
  'fs.protected_regular': '2',
  'fs.protected_hardlinks': '1',
  'fs.protected_symlinks': '1',
  'dev.tty.ldisc_autoload': '0',
  'net.ipv4.conf.all.rp_filter': '2',
  'net.ipv4.conf.default.rp_filter': '2',
  'net.ipv4.conf.all.accept_redirects': '0',
  'net.ipv4.conf.default.accept_redirects': '0',
  'net.ipv4.conf.all.secure_redirects': '0',
  'net.ipv4.conf.default.secure_redirects': '0',
  'net.ipv4.conf.all.send_redirects': '0',
  'net.ipv4.conf.default.send_redirects': '0',
  'net.ipv6.conf.all.accept_redirects': '0',
  'net.ipv6.conf.default.accept_redirects': '0',
  'net.ipv4.conf.all.accept_source_route': '0',
  'net.ipv4.conf.default.accept_source_route': '0',
  'net.ipv6.conf.all.accept_source_route': '0',
  'net.ipv6.conf.default.accept_source_route': '0',
  'net.ipv4.conf.all.log_martians': '1',
  'net.ipv4.conf.default.log_martians': '1',
  'net.ipv4.tcp_syncookies': '1',
  'net.ipv4.icmp_echo_ignore_broadcasts': '1',
  'net.ipv4.icmp_ignore_bogus_error_responses': '1',
  // No router advertisements: a node whose IPv6 comes from SLAAC overrides these two in sysctlOverrides.
  'net.ipv6.conf.all.accept_ra': '0',
  'net.ipv6.conf.default.accept_ra': '0',
  // Containers run with --network none and the firewall's forward chain drops: nothing is routed.
  'net.ipv4.ip_forward': '0',
  'net.ipv6.conf.all.forwarding': '0',
};

export const SYSCTL_DUMPS_FILE = '/etc/sysctl.d/90-bulwark-dumps.conf';
export const SYSCTL_HARDENING_FILE = '/etc/sysctl.d/90-bulwark-hardening.conf';

export function sysctlFile(values: Record<string, string>, what: string): string {
  return `${HEADER}# ${what}\n${Object.entries(values)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
}

/** The sysctls Bulwark wants, with the file each lives in (overrides land in the hardening file). */
export function desiredSysctls(cfg: HardeningConfig): { key: string; value: string; file: string; mechanism: string }[] {
  const out: { key: string; value: string; file: string; mechanism: string }[] = [];
  const overrides = Object.fromEntries(Object.entries(cfg.sysctlOverrides).map(([k, v]) => [k, String(v)]));
  if (cfg.disableDumps) for (const [key, value] of Object.entries(DUMP_SYSCTLS)) out.push({ key, value: overrides[key] ?? value, file: SYSCTL_DUMPS_FILE, mechanism: 'dumps.sysctl' });
  const hard = cfg.sysctl ? { ...HARDENING_SYSCTLS } : {};
  for (const [k, v] of Object.entries(overrides)) if (!(cfg.disableDumps && k in DUMP_SYSCTLS)) hard[k] = v;
  for (const [key, value] of Object.entries(hard)) out.push({ key, value: overrides[key] ?? value, file: SYSCTL_HARDENING_FILE, mechanism: 'sysctl' });
  return out;
}

const COREDUMP_CONF = `${HEADER}# No core dumps are stored or processed (kernel.core_pattern also discards them).\n[Coredump]\nStorage=none\nProcessSizeMax=0\n`;

export function renderHardening(cfg: HardeningConfig, distro: Distro): { files: ManagedFile[]; masked: MaskedUnit[] } {
  const files: ManagedFile[] = [];
  const masked: MaskedUnit[] = [];
  const sys = desiredSysctls(cfg);
  const group = (file: string) => Object.fromEntries(sys.filter((s) => s.file === file).map((s) => [s.key, s.value]));
  if (cfg.disableDumps) {
    files.push(
      { path: SYSCTL_DUMPS_FILE, content: sysctlFile(group(SYSCTL_DUMPS_FILE), 'core dumps discarded, no setuid dumps, no kexec'), mode: 0o644, mechanism: 'dumps.sysctl-file' },
      { path: '/etc/systemd/coredump.conf', content: COREDUMP_CONF, mode: 0o644, mechanism: 'dumps.coredump-conf' },
      { path: '/etc/systemd/coredump.conf.d/90-bulwark.conf', content: COREDUMP_CONF, mode: 0o644, mechanism: 'dumps.coredump-dropin' },
      {
        path: '/etc/security/limits.d/90-bulwark-core.conf',
        content: `${HEADER}# The wildcard does not cover root (limits.conf(5)): root is named explicitly.\n* hard core 0\n* soft core 0\nroot hard core 0\nroot soft core 0\n`,
        mode: 0o644,
        mechanism: 'dumps.limits',
      },
      { path: '/etc/systemd/system.conf.d/90-bulwark-core.conf', content: `${HEADER}[Manager]\nDefaultLimitCORE=0\n`, mode: 0o644, mechanism: 'dumps.systemd-limit' },
      { path: '/etc/profile.d/90-bulwark-core.sh', content: `${HEADER}ulimit -c 0 2>/dev/null || true\n`, mode: 0o644, mechanism: 'dumps.profile' },
      { path: '/etc/default/kdump-tools', content: `${HEADER}USE_KDUMP=0\n`, mode: 0o644, mechanism: 'dumps.kdump' },
      {
        path: '/etc/default/grub.d/99-bulwark-no-crashkernel.cfg',
        content: `${HEADER}# Removes crashkernel= (kdump's memory reservation) from the kernel command line at the next update-grub.\nGRUB_CMDLINE_LINUX="$(printf '%s' "$GRUB_CMDLINE_LINUX" | sed -E 's/(^| )crashkernel=[^ ]*//g')"\nGRUB_CMDLINE_LINUX_DEFAULT="$(printf '%s' "$GRUB_CMDLINE_LINUX_DEFAULT" | sed -E 's/(^| )crashkernel=[^ ]*//g')"\n`,
        mode: 0o644,
        mechanism: 'dumps.crashkernel',
      },
    );
    masked.push({ unit: 'kdump-tools.service', path: '/etc/systemd/system/kdump-tools.service', mechanism: 'dumps.kdump-service' });
    if (distro.id === 'ubuntu') {
      // apport rewrites kernel.core_pattern when it starts
      files.push({ path: '/etc/default/apport', content: `${HEADER}enabled=0\n`, mode: 0o644, mechanism: 'dumps.apport' });
      masked.push({ unit: 'apport.service', path: '/etc/systemd/system/apport.service', mechanism: 'dumps.apport-service' });
      masked.push({ unit: 'apport-forward.socket', path: '/etc/systemd/system/apport-forward.socket', mechanism: 'dumps.apport-service' });
    }
  }
  const hard = group(SYSCTL_HARDENING_FILE);
  if (Object.keys(hard).length) files.push({ path: SYSCTL_HARDENING_FILE, content: sysctlFile(hard, 'kernel and network hardening'), mode: 0o644, mechanism: 'sysctl-file' });
  return { files, masked };
}

/** /etc/os-release → distro id. Pure. */
export function parseOsRelease(text: string): Distro {
  const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1];
  return { id: get('ID') ?? 'unknown', versionId: get('VERSION_ID') };
}
