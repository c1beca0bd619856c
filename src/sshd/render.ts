import { loginPolicy, type SshServerConfig } from './schema.js';

/**
 * The sshd drop-in Bulwark owns. sshd keeps the FIRST value it reads for most keywords, and Debian's and Ubuntu's
 * sshd_config start with `Include /etc/ssh/sshd_config.d/*.conf` (files in lexical order), so this name sorts
 * before every other drop-in (cloud images ship e.g. 50-cloud-init.conf with PasswordAuthentication yes) and before
 * the main file's own lines. `bulwark audit` checks the effective values (`sshd -T`), so an override is seen.
 */
export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/00-bulwark.conf';
export const SSHD_MAIN = '/etc/ssh/sshd_config';

export interface OpenSshVersion {
  major: number;
  minor: number;
}

/** "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15" (what `sshd -V` or `ssh -V` prints) → 9.2. Pure. */
export function parseOpenSshVersion(text: string): OpenSshVersion | undefined {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}
const atLeast = (v: OpenSshVersion, major: number, minor: number) => v.major > major || (v.major === major && v.minor >= minor);

/**
 * Key exchange: hybrid post-quantum first where the server knows it (ML-KEM from 9.9, Debian 13's 10.x; sntrup761
 * from 8.5, Debian 12's 9.2), then curve25519, which is also what Bulwark's own client (npm ssh2) speaks. An
 * algorithm the running sshd doesn't know would make it refuse the whole file, hence the version.
 */
export function kexAlgorithms(v: OpenSshVersion): string[] {
  const pq = atLeast(v, 9, 9) ? ['mlkem768x25519-sha256', 'sntrup761x25519-sha512', 'sntrup761x25519-sha512@openssh.com'] : atLeast(v, 8, 5) ? ['sntrup761x25519-sha512@openssh.com'] : [];
  return [...pq, 'curve25519-sha256', 'curve25519-sha256@libssh.org'];
}
/** AEAD ciphers only (no CBC, no CTR+MAC). */
export const CIPHERS = ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com'];
/** Encrypt-then-MAC only (used by no AEAD cipher, but sshd -T shows the list and CIS checks it). */
export const MACS = ['hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256-etm@openssh.com', 'umac-128-etm@openssh.com'];

/** One directive: the keyword as written in the file, its value, and what `sshd -T` prints for it. */
export interface SshdDirective {
  keyword: string;
  value: string;
  /** `sshd -T` key (lower case) and the values it must show; undefined: not shown by sshd -T. */
  effective?: { key: string; values: string[] };
  /** The baseline rule this directive answers (CIS Debian Linux 12 Benchmark titles). */
  baseline?: string;
  why: string;
}

const cis = (title: string) => `CIS Debian 12 L1: ${title}`;

/** The directives, in file order. Pure: config + the node's OpenSSH version → list. */
export function sshdDirectives(cfg: SshServerConfig, v: OpenSshVersion): SshdDirective[] {
  const { users, rootLogin } = loginPolicy(cfg);
  const d = (keyword: string, value: string, why: string, baseline?: string, effective: string[] | null = [value]): SshdDirective => ({
    keyword,
    value,
    why,
    ...(effective ? { effective: { key: keyword.toLowerCase(), values: effective } } : {}),
    ...(baseline ? { baseline: cis(baseline) } : {}),
  });
  const out: SshdDirective[] = [
    d('PasswordAuthentication', 'no', 'keys only'),
    atLeast(v, 8, 7)
      ? d('KbdInteractiveAuthentication', 'no', 'keys only (no PAM password prompts)')
      : d('ChallengeResponseAuthentication', 'no', 'keys only (no PAM password prompts)', undefined, null),
    d('PubkeyAuthentication', 'yes', 'keys only'),
    d('AuthenticationMethods', 'publickey', 'keys only'),
    d('PermitEmptyPasswords', 'no', 'no empty passwords', 'Ensure sshd PermitEmptyPasswords is disabled'),
    d('HostbasedAuthentication', 'no', 'no host-based trust', 'Ensure sshd HostbasedAuthentication is disabled'),
    d('IgnoreRhosts', 'yes', 'no .rhosts', 'Ensure sshd IgnoreRhosts is enabled'),
    d('GSSAPIAuthentication', 'no', 'no Kerberos', 'Ensure sshd GSSAPIAuthentication is disabled'),
    // sshd -T prints prohibit-password under its old name on OpenSSH before 9.x/10
    {
      ...d(
        'PermitRootLogin',
        rootLogin,
        rootLogin === 'no' ? `root may not log in (adminUser ${cfg.adminUser})` : 'root by key only (set ssh.server.adminUser to forbid it)',
        rootLogin === 'no' ? 'Ensure sshd PermitRootLogin is disabled' : undefined,
      ),
      effective: { key: 'permitrootlogin', values: rootLogin === 'no' ? ['no'] : ['prohibit-password', 'without-password'] },
    },
    { ...d('AllowUsers', users.join(' '), 'only these users', 'Ensure sshd access is configured'), effective: { key: 'allowusers', values: users } },
    d('PermitUserEnvironment', 'no', 'no environment from authorized_keys', 'Ensure sshd PermitUserEnvironment is disabled'),
    d('UsePAM', 'yes', 'PAM account and session checks', 'Ensure sshd UsePAM is enabled'),
    d('MaxAuthTries', String(cfg.maxAuthTries), 'few attempts per connection', 'Ensure sshd MaxAuthTries is configured'),
    d('LoginGraceTime', String(cfg.loginGraceTime), 'short login window', 'Ensure sshd LoginGraceTime is configured'),
    d('MaxStartups', cfg.maxStartups, 'bounded unauthenticated connections', 'Ensure sshd MaxStartups is configured'),
    d('MaxSessions', String(cfg.maxSessions), 'bounded sessions per connection', 'Ensure sshd MaxSessions is configured'),
    d('ClientAliveInterval', String(cfg.clientAliveInterval), 'dead sessions end', 'Ensure sshd ClientAliveInterval and ClientAliveCountMax are configured'),
    d('ClientAliveCountMax', String(cfg.clientAliveCountMax), 'dead sessions end', 'Ensure sshd ClientAliveInterval and ClientAliveCountMax are configured'),
    d('DisableForwarding', 'yes', 'no forwarding of any kind', 'Ensure sshd DisableForwarding is enabled'),
    d('AllowAgentForwarding', 'no', 'no agent forwarding'),
    d('AllowTcpForwarding', 'no', 'no TCP forwarding'),
    d('AllowStreamLocalForwarding', 'no', 'no Unix socket forwarding'),
    d('X11Forwarding', 'no', 'no X11 forwarding'),
    d('PermitTunnel', 'no', 'no tun/tap tunnels'),
    d('GatewayPorts', 'no', 'no remote-forward listeners on other addresses'),
    d('KexAlgorithms', kexAlgorithms(v).join(','), 'modern key exchange only', 'Ensure sshd KexAlgorithms is configured'),
    d('Ciphers', CIPHERS.join(','), 'AEAD ciphers only', 'Ensure sshd Ciphers are configured'),
    d('MACs', MACS.join(','), 'encrypt-then-MAC only', 'Ensure sshd MACs are configured'),
    d('LogLevel', 'VERBOSE', 'key fingerprints in the log', 'Ensure sshd LogLevel is configured'),
    d('Banner', cfg.banner, 'pre-login notice', cfg.banner === 'none' ? undefined : 'Ensure sshd Banner is configured'),
  ];
  return out;
}

/** The drop-in's text. Pure. */
export function renderSshdDropIn(cfg: SshServerConfig, v: OpenSshVersion): string {
  const lines = [
    '# Written by Bulwark (ssh.server in bulwark.yaml); edits are replaced. sshd keeps the first value it reads,',
    '# so this file sorts first in sshd_config.d. Check the effective values with `sshd -T` or `bulwark audit`.',
    `# For OpenSSH ${v.major}.${v.minor}.`,
  ];
  for (const x of sshdDirectives(cfg, v)) lines.push(`${x.keyword} ${x.value}`);
  return `${lines.join('\n')}\n`;
}

/** `sshd -T` output → keyword → values (a keyword may repeat; list values are split on commas and spaces). Pure. */
export function parseSshdT(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = (m[1] as string).toLowerCase();
    const vals = (m[2] as string).split(/[\s,]+/).filter(Boolean);
    out.set(key, [...(out.get(key) ?? []), ...vals]);
  }
  return out;
}

export interface EffectiveCheck {
  keyword: string;
  ok: boolean;
  seen: string;
  want: string;
  baseline?: string;
}

/** Each directive against the effective configuration (`sshd -T`). Lists compare as sets. Pure. */
export function checkEffective(directives: readonly SshdDirective[], effective: Map<string, string[]>): EffectiveCheck[] {
  const out: EffectiveCheck[] = [];
  for (const x of directives) {
    if (!x.effective) continue;
    const seen = effective.get(x.effective.key);
    const wantList = x.effective.values;
    let ok: boolean;
    if (!seen) ok = false;
    else if (x.keyword === 'PermitRootLogin') ok = seen.length === 1 && wantList.includes(seen[0]!.toLowerCase());
    else {
      const a = [...new Set(seen.map((s) => s.toLowerCase()))].sort();
      const b = [...new Set(wantList.flatMap((s) => s.split(/[\s,]+/)).map((s) => s.toLowerCase()))].sort();
      ok = a.length === b.length && a.every((s, i) => s === b[i]);
    }
    out.push({
      keyword: x.keyword,
      ok,
      seen: seen ? seen.join(',') : '(not shown by sshd -T)',
      want: x.keyword === 'PermitRootLogin' ? (wantList[0] as string) : x.value.split(' ').join(','),
      ...(x.baseline ? { baseline: x.baseline } : {}),
    });
  }
  return out;
}
