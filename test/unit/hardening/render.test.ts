import { describe, expect, it } from 'vitest';
import { notLiveReason, parseSysctlOutput } from '../../../src/hardening/apply.js';
import { desiredSysctls, parseOsRelease, renderHardening } from '../../../src/hardening/render.js';
import { hardeningSchema } from '../../../src/hardening/schema.js';

const debian = { id: 'debian', versionId: '12' };
const file = (path: string, cfg = hardeningSchema.parse({}), distro = debian) => renderHardening(cfg, distro).files.find((f) => f.path === path)?.content ?? '';

describe('hardening renderers', () => {
  it('renders every dump mechanism', () => {
    expect(file('/etc/sysctl.d/90-bulwark-dumps.conf')).toMatch(/^kernel\.core_pattern = \|\/bin\/false$/m);
    expect(file('/etc/sysctl.d/90-bulwark-dumps.conf')).toMatch(/^fs\.suid_dumpable = 0$/m);
    expect(file('/etc/sysctl.d/90-bulwark-dumps.conf')).toMatch(/^kernel\.kexec_load_disabled = 1$/m);
    for (const p of ['/etc/systemd/coredump.conf', '/etc/systemd/coredump.conf.d/90-bulwark.conf']) {
      expect(file(p)).toMatch(/^\[Coredump\]\nStorage=none\nProcessSizeMax=0$/m);
    }
    expect(file('/etc/security/limits.d/90-bulwark-core.conf')).toMatch(/^\* hard core 0\n\* soft core 0$/m);
    // limits.conf wildcards skip root: it must be named.
    expect(file('/etc/security/limits.d/90-bulwark-core.conf')).toMatch(/^root hard core 0\nroot soft core 0$/m);
    expect(file('/etc/systemd/system.conf.d/90-bulwark-core.conf')).toMatch(/^\[Manager\]\nDefaultLimitCORE=0$/m);
    expect(file('/etc/profile.d/90-bulwark-core.sh')).toMatch(/^ulimit -c 0/m);
    expect(file('/etc/default/kdump-tools')).toMatch(/^USE_KDUMP=0$/m);
    expect(file('/etc/default/grub.d/99-bulwark-no-crashkernel.cfg')).toContain('crashkernel=');
    const { masked } = renderHardening(hardeningSchema.parse({}), debian);
    expect(masked.map((m) => m.unit)).toEqual(['kdump-tools.service']);
  });

  it('disables and masks apport on Ubuntu only', () => {
    const ubuntu = renderHardening(hardeningSchema.parse({}), { id: 'ubuntu', versionId: '24.04' });
    expect(ubuntu.files.find((f) => f.path === '/etc/default/apport')?.content).toMatch(/^enabled=0$/m);
    expect(ubuntu.masked.map((m) => m.unit)).toContain('apport.service');
    expect(renderHardening(hardeningSchema.parse({}), debian).files.some((f) => f.path.includes('apport'))).toBe(false);
  });

  it('the sysctl hardening file has the issue values, rp_filter loose for WireGuard, and takes overrides', () => {
    const s = file('/etc/sysctl.d/90-bulwark-hardening.conf');
    for (const line of [
      'kernel.kptr_restrict = 2',
      'kernel.dmesg_restrict = 1',
      'kernel.unprivileged_bpf_disabled = 1',
      'net.core.bpf_jit_harden = 2',
      'kernel.yama.ptrace_scope = 2',
      'kernel.sysrq = 0',
      'fs.protected_fifos = 2',
      'fs.protected_regular = 2',
      'fs.protected_hardlinks = 1',
      'fs.protected_symlinks = 1',
      'kernel.randomize_va_space = 2',
      'dev.tty.ldisc_autoload = 0',
      'net.ipv4.conf.all.rp_filter = 2',
      'net.ipv4.conf.all.accept_redirects = 0',
      'net.ipv4.conf.all.send_redirects = 0',
      'net.ipv4.conf.all.accept_source_route = 0',
      'net.ipv6.conf.all.accept_redirects = 0',
      'net.ipv4.conf.all.log_martians = 1',
      'net.ipv4.tcp_syncookies = 1',
      'net.ipv4.icmp_ignore_bogus_error_responses = 1',
      'net.ipv6.conf.all.accept_ra = 0',
      // nothing is routed: app containers have no network, the forward chain drops
      'net.ipv4.ip_forward = 0',
      'net.ipv6.conf.all.forwarding = 0',
    ])
      expect(s.split('\n')).toContain(line);
    expect(Number(/kernel\.perf_event_paranoid = (\d+)/.exec(s)?.[1])).toBeGreaterThanOrEqual(2);
    const o = hardeningSchema.parse({ sysctlOverrides: { 'kernel.perf_event_paranoid': 2, 'vm.mmap_min_addr': 65536 } });
    const so = file('/etc/sysctl.d/90-bulwark-hardening.conf', o);
    expect(so).toContain('kernel.perf_event_paranoid = 2');
    expect(so).toContain('vm.mmap_min_addr = 65536');
    expect(desiredSysctls(o).filter((d) => d.key === 'kernel.perf_event_paranoid')).toHaveLength(1);
  });

  it('off means no files', () => {
    const r = renderHardening(hardeningSchema.parse({ disableDumps: false, sysctl: false }), debian);
    expect(r.files).toEqual([]);
    expect(r.masked).toEqual([]);
  });

  it('classifies why a value is not live', () => {
    expect(notLiveReason('sysctl: setting key "kernel.core_pattern": Read-only file system')).toBe('written, not live: read-only');
    expect(notLiveReason('sysctl: cannot stat /proc/sys/dev/tty/ldisc_autoload: No such file or directory')).toMatch(/unknown key/);
    expect(parseOsRelease('PRETTY_NAME="Ubuntu 24.04"\nID=ubuntu\nVERSION_ID="24.04"\n')).toEqual({ id: 'ubuntu', versionId: '24.04' });
  });
});

describe('sysctl output, many keys in one call', () => {
  it('gives each key its value, or the stderr line that names it (procps 4.0 wording)', () => {
    const keys = ['kernel.kptr_restrict', 'kernel.nosuchkey', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.tcp_rmem', 'kernel.sysrq'];
    const stdout = 'kernel.kptr_restrict = 1\nnet.ipv4.tcp_rmem = 4096\t131072\t33554432\n';
    const stderr = [
      'sysctl: cannot stat /proc/sys/kernel/nosuchkey: No such file or directory',
      'sysctl: permission denied on key "net.ipv4.conf.all.rp_filter"',
      'sysctl: setting key "kernel.sysrq": Read-only file system',
    ].join('\n');
    const got = parseSysctlOutput(keys, stdout, stderr);
    expect(got.get('kernel.kptr_restrict')).toEqual({ value: '1' });
    expect(got.get('net.ipv4.tcp_rmem')).toEqual({ value: '4096 131072 33554432' });
    expect(notLiveReason(got.get('kernel.nosuchkey')!.error!)).toMatch(/unknown key/);
    expect(got.get('net.ipv4.conf.all.rp_filter')!.error).toMatch(/permission denied/);
    expect(notLiveReason(got.get('kernel.sysrq')!.error!)).toBe('written, not live: read-only');
  });
  it('a key named by no line is an error, not a value; a longer key with the same start is not it', () => {
    const got = parseSysctlOutput(['net.ipv4.conf.all.rp_filter'], 'net.ipv4.conf.all.rp_filter_extra = 1\n', 'sysctl: permission denied on key "net.ipv4.conf.all.rp_filter_extra"');
    expect(got.get('net.ipv4.conf.all.rp_filter')).toEqual({ error: 'not reported by sysctl' });
  });
});

describe('read-only /proc/sys detection', () => {
  it('uses the mount that holds the key', async () => {
    const { sysctlPathReadOnly } = await import('../../../src/hardening/apply.js');
    const nspawn = '22 1 0:20 / /proc rw,nosuid - proc proc rw\n46 22 0:20 /sys /proc/sys ro,relatime - proc proc rw\n47 46 0:20 /sys/net /proc/sys/net rw,relatime - proc proc rw\n';
    expect(sysctlPathReadOnly(nspawn, 'kernel.core_pattern')).toBe(true);
    expect(sysctlPathReadOnly(nspawn, 'net.ipv4.tcp_syncookies')).toBe(false);
    expect(sysctlPathReadOnly('22 1 0:20 / /proc rw,nosuid - proc proc rw\n', 'kernel.core_pattern')).toBe(false);
  });
});
