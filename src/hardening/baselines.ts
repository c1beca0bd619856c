/**
 * The CIS Debian Linux 12 Benchmark rules Bulwark's hardening checks answer, by title (levels as the
 * benchmark gives them for servers). Where Bulwark's value deliberately differs the title says so.
 */
const L1 = (t: string) => `CIS Debian 12 L1: ${t}`;
const L2 = (t: string) => `CIS Debian 12 L2: ${t}`;

export const MODULE_BASELINES: Record<string, string> = {
  cramfs: L1('Ensure cramfs kernel module is not available'),
  freevxfs: L1('Ensure freevxfs kernel module is not available'),
  hfs: L1('Ensure hfs kernel module is not available'),
  hfsplus: L1('Ensure hfsplus kernel module is not available'),
  jffs2: L1('Ensure jffs2 kernel module is not available'),
  'usb-storage': L1('Ensure usb-storage kernel module is not available'),
  squashfs: L2('Ensure squashfs kernel module is not available'),
  udf: L2('Ensure udf kernel module is not available'),
  dccp: L2('Ensure dccp kernel module is not available'),
  tipc: L2('Ensure tipc kernel module is not available'),
  rds: L2('Ensure rds kernel module is not available'),
  sctp: L2('Ensure sctp kernel module is not available'),
};

export const SYSCTL_BASELINES: Record<string, string> = {
  'net.ipv4.ip_forward': L1('Ensure ip forwarding is disabled'),
  'net.ipv6.conf.all.forwarding': L1('Ensure ip forwarding is disabled'),
  'net.ipv4.conf.all.send_redirects': L1('Ensure packet redirect sending is disabled'),
  'net.ipv4.conf.default.send_redirects': L1('Ensure packet redirect sending is disabled'),
  'net.ipv4.icmp_ignore_bogus_error_responses': L1('Ensure bogus icmp responses are ignored'),
  'net.ipv4.icmp_echo_ignore_broadcasts': L1('Ensure broadcast icmp requests are ignored'),
  'net.ipv4.conf.all.accept_redirects': L1('Ensure icmp redirects are not accepted'),
  'net.ipv4.conf.default.accept_redirects': L1('Ensure icmp redirects are not accepted'),
  'net.ipv6.conf.all.accept_redirects': L1('Ensure icmp redirects are not accepted'),
  'net.ipv6.conf.default.accept_redirects': L1('Ensure icmp redirects are not accepted'),
  'net.ipv4.conf.all.secure_redirects': L1('Ensure secure icmp redirects are not accepted'),
  'net.ipv4.conf.default.secure_redirects': L1('Ensure secure icmp redirects are not accepted'),
  'net.ipv4.conf.all.rp_filter': L1('Ensure reverse path filtering is enabled (deviation: loose mode 2, strict mode drops WireGuard replies on asymmetric routes)'),
  'net.ipv4.conf.default.rp_filter': L1('Ensure reverse path filtering is enabled (deviation: loose mode 2, strict mode drops WireGuard replies on asymmetric routes)'),
  'net.ipv4.conf.all.accept_source_route': L1('Ensure source routed packets are not accepted'),
  'net.ipv4.conf.default.accept_source_route': L1('Ensure source routed packets are not accepted'),
  'net.ipv6.conf.all.accept_source_route': L1('Ensure source routed packets are not accepted'),
  'net.ipv6.conf.default.accept_source_route': L1('Ensure source routed packets are not accepted'),
  'net.ipv4.conf.all.log_martians': L1('Ensure suspicious packets are logged'),
  'net.ipv4.conf.default.log_martians': L1('Ensure suspicious packets are logged'),
  'net.ipv4.tcp_syncookies': L1('Ensure tcp syn cookies is enabled'),
  'net.ipv6.conf.all.accept_ra': L1('Ensure ipv6 router advertisements are not accepted'),
  'net.ipv6.conf.default.accept_ra': L1('Ensure ipv6 router advertisements are not accepted'),
  'kernel.randomize_va_space': L1('Ensure address space layout randomization is enabled'),
  'kernel.yama.ptrace_scope': L1('Ensure ptrace_scope is restricted'),
  'fs.suid_dumpable': L1('Ensure core dumps are restricted'),
};

export const LOGIN_DEFS_BASELINES: Record<string, string> = {
  PASS_MAX_DAYS: L1('Ensure password expiration is configured'),
  PASS_MIN_DAYS: L1('Ensure minimum password days is configured'),
  PASS_WARN_AGE: L1('Ensure password expiration warning days is configured'),
  ENCRYPT_METHOD: L1('Ensure strong password hashing algorithm is configured'),
  UMASK: L1('Ensure default user umask is configured'),
};

export const OTHER_BASELINES = {
  pamUnixHash: L1('Ensure pam_unix includes a strong password hashing algorithm'),
  aging: L1('Ensure password expiration is configured'),
  motd: L1('Ensure message of the day is configured properly'),
  issue: L1('Ensure local login warning banner is configured properly'),
  issueNet: L1('Ensure remote login warning banner is configured properly'),
  auditdInstalled: L2('Ensure auditd packages are installed'),
  auditdActive: L2('Ensure auditd service is enabled and active'),
  auditdSameOnDisk: L2('Ensure the running and on disk configuration is the same'),
  integrityRegular: L1('Ensure filesystem integrity is regularly checked'),
};
