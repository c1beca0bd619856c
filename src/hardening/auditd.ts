import { DEFAULT_MESH_ROOT, NODE_CONFIG, PRINCIPALS_DIR } from '../config/locate.js';
import type { ManagedFile } from './render.js';
import type { AuditdConfig } from './system-schema.js';

/** Pure: Bulwark's audit rules (auditd), and how to tell which of them the kernel has loaded. */

export const AUDIT_RULES_FILE = '/etc/audit/rules.d/bulwark.rules';

/** One group of rules and the CIS Debian 12 rule it answers. */
interface RuleGroup {
  key: string;
  baseline: string;
  rules: string[];
}

const watch = (path: string, key: string) => `-w ${path} -p wa -k ${key}`;

export function auditRuleGroups(cfg: AuditdConfig): RuleGroup[] {
  const groups: RuleGroup[] = [
    {
      key: 'identity',
      baseline: 'CIS Debian 12 L2: Ensure events that modify user/group information are collected',
      rules: ['/etc/group', '/etc/passwd', '/etc/gshadow', '/etc/shadow', '/etc/security/opasswd'].map((p) => watch(p, 'identity')),
    },
    {
      key: 'scope',
      baseline: 'CIS Debian 12 L2: Ensure changes to system administration scope (sudoers) is collected',
      rules: ['/etc/sudoers', '/etc/sudoers.d'].map((p) => watch(p, 'scope')),
    },
    { key: 'sshd', baseline: 'Bulwark: changes to the SSH daemon configuration are collected', rules: ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d'].map((p) => watch(p, 'sshd')) },
    {
      key: 'bulwark',
      baseline: "Bulwark: changes to Bulwark's configuration, runtime and keys are collected",
      rules: [NODE_CONFIG.replace(/\/[^/]+$/, ''), DEFAULT_MESH_ROOT, PRINCIPALS_DIR, '/var/lib/bulwark/acme', '/usr/lib/bulwark', '/usr/local/sbin/bulwark'].map((p) => watch(p, 'bulwark')),
    },
    {
      key: 'time-change',
      baseline: 'CIS Debian 12 L2: Ensure events that modify date and time information are collected',
      rules: [
        '-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change',
        '-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change',
        watch('/etc/localtime', 'time-change'),
      ],
    },
    {
      key: 'system-locale',
      baseline: "CIS Debian 12 L2: Ensure events that modify the system's network environment are collected",
      rules: [
        '-a always,exit -F arch=b64 -S sethostname,setdomainname -k system-locale',
        '-a always,exit -F arch=b32 -S sethostname,setdomainname -k system-locale',
        ...['/etc/hostname', '/etc/hosts'].map((p) => watch(p, 'system-locale')),
      ],
    },
    {
      key: 'kernel_modules',
      baseline: 'CIS Debian 12 L2: Ensure kernel module loading unloading and modification is collected',
      rules: [
        '-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k kernel_modules',
        '-a always,exit -F arch=b32 -S init_module,finit_module,delete_module -k kernel_modules',
        '-w /usr/bin/kmod -p x -k kernel_modules',
      ],
    },
  ];
  if (cfg.watch.length) groups.push({ key: 'bulwark-extra', baseline: 'Bulwark: hardening.auditd.watch', rules: cfg.watch.map((p) => watch(p, 'bulwark-extra')) });
  return groups;
}

export function renderAuditRules(cfg: AuditdConfig): ManagedFile[] {
  if (!cfg.enabled) return [];
  const body = auditRuleGroups(cfg)
    .map((g) => `## ${g.baseline}\n${g.rules.join('\n')}`)
    .join('\n\n');
  return [
    {
      path: AUDIT_RULES_FILE,
      content: `## Managed by Bulwark (hardening.auditd); changes are overwritten by the agent.\n## Merged and loaded by augenrules --load.\n\n${body}\n`,
      mode: 0o640,
      mechanism: 'auditd.rules-file',
    },
  ];
}

/** A rule reduced to what `auditctl -l` keeps of it: list, arch, the syscall set or the watched path and perms, key. Pure. */
export function ruleSignature(rule: string): string {
  const t = rule.trim().split(/\s+/);
  const val = (flag: string) => {
    const i = t.indexOf(flag);
    return i >= 0 ? (t[i + 1] ?? '') : '';
  };
  const fields = t.flatMap((x, i) => (t[i - 1] === '-F' ? [x] : []));
  const fieldKey = fields.find((f) => f.startsWith('key='))?.slice(4);
  const key = val('-k') || fieldKey || '';
  if (t[0] === '-w') return `w ${val('-w')} ${[...val('-p')].sort().join('')} ${key}`;
  const syscalls = t
    .flatMap((x, i) => (t[i - 1] === '-S' ? x.split(',') : []))
    .sort()
    .join(',');
  const other = fields
    .filter((f) => !f.startsWith('key='))
    .sort()
    .join(' ');
  return `a ${val('-a')} ${other} ${syscalls} ${key}`;
}

/** The rendered rules `auditctl -l` does not show. Pure. */
export function missingRules(rules: readonly string[], auditctlList: string): string[] {
  const live = new Set(
    auditctlList
      .split('\n')
      .filter((l) => /^-[wa] /.test(l))
      .map(ruleSignature),
  );
  return rules.filter((r) => !live.has(ruleSignature(r)));
}

/** The same rules as deletions (-W, -d): removes exactly these from the kernel. Pure. */
export function deletionRules(rules: readonly string[]): string[] {
  return rules.map((r) => r.replace(/^-w /, '-W ').replace(/^-a /, '-d '));
}

/**
 * Why the kernel's audit subsystem is out of reach, from `auditctl -s`; `container` is /run/systemd/container
 * (e.g. "systemd-nspawn", which refuses audit netlink sockets: auditctl then says "audit support not in
 * kernel" even though the host kernel has it). Pure.
 */
export function auditUnavailable(code: number, stderr: string, container = ''): string | undefined {
  if (code === 0) return undefined;
  if (/Operation not permitted|Connection refused|Protocol not supported/i.test(stderr)) return `no audit netlink in this container${container ? ` (${container})` : ''}`;
  if (/audit support not in kernel/i.test(stderr))
    return container ? `no audit netlink in this container (${container}: auditctl says "audit support not in kernel")` : 'audit support not in this kernel';
  if (/command not found|No such file|ENOENT/i.test(stderr)) return 'auditctl not installed (package auditd)';
  return stderr.trim().split('\n')[0] ?? `auditctl -s exit ${code}`;
}

/** What /run/systemd/container says (empty outside a container). */
export const CONTAINER_FILE = '/run/systemd/container';
