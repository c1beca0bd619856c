import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, parseConfig } from '../../../src/config/index.js';
import { includesDropInDir } from '../../../src/sshd/apply.js';
import { checkEffective, CIPHERS, kexAlgorithms, MACS, parseOpenSshVersion, parseSshdT, renderSshdDropIn, sshdDirectives, SSHD_DROPIN } from '../../../src/sshd/render.js';
import { sshServerSchema } from '../../../src/sshd/schema.js';

const require = createRequire(import.meta.url);
/** What npm ssh2 (Bulwark's own SSH client: bootstrap, fan-out) offers and supports. */
const ssh2 = require('ssh2/lib/protocol/constants.js') as { DEFAULT_KEX: string[]; DEFAULT_CIPHER: string[]; DEFAULT_MAC: string[] };

const D12 = { major: 9, minor: 2 };
const D13 = { major: 10, minor: 0 };
const U22 = { major: 8, minor: 9 };
const defaults = sshServerSchema.parse(undefined);
const lines = (t: string) => t.split('\n').filter((l) => l && !l.startsWith('#'));

describe('sshd drop-in renderer', () => {
  it('default policy: keys only, root by key only, no forwarding, short limits, banner', () => {
    const text = renderSshdDropIn(defaults, D12);
    const l = lines(text);
    for (const want of [
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AuthenticationMethods publickey',
      'PermitEmptyPasswords no',
      'PermitRootLogin prohibit-password',
      'AllowUsers root',
      'MaxAuthTries 3',
      'LoginGraceTime 30',
      'MaxStartups 10:30:60',
      'ClientAliveInterval 15',
      'ClientAliveCountMax 3',
      'DisableForwarding yes',
      'AllowAgentForwarding no',
      'AllowTcpForwarding no',
      'AllowStreamLocalForwarding no',
      'X11Forwarding no',
      'PermitTunnel no',
      'Banner /etc/issue.net',
      'Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com',
      'MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com',
    ])
      expect(l).toContain(want);
    // one line per keyword: sshd keeps the first, a second would be dead text
    const kw = l.map((x) => x.split(' ')[0]);
    expect(new Set(kw).size).toBe(kw.length);
    expect(text).not.toMatch(/cbc|hmac-sha1|diffie-hellman|ecdh-sha2/);
    expect(SSHD_DROPIN).toBe('/etc/ssh/sshd_config.d/00-bulwark.conf');
  });

  it('adminUser: root may not log in at all; only the admin and the extra users may', () => {
    const l = lines(renderSshdDropIn(sshServerSchema.parse({ adminUser: 'ops', allowUsers: ['deploy'] }), D12));
    expect(l).toContain('PermitRootLogin no');
    expect(l).toContain('AllowUsers ops deploy');
    const root = sshdDirectives(sshServerSchema.parse({ adminUser: 'ops' }), D12).find((d) => d.keyword === 'PermitRootLogin');
    expect(root?.baseline).toBe('CIS Debian 12 L1: Ensure sshd PermitRootLogin is disabled');
    // root by key is not what CIS asks: that check then names no baseline rule
    expect(sshdDirectives(defaults, D12).find((d) => d.keyword === 'PermitRootLogin')?.baseline).toBeUndefined();
  });

  it('key exchange follows the OpenSSH version: ML-KEM on 9.9+/10.x, sntrup761 on 8.5+, curve25519 always', () => {
    expect(kexAlgorithms(D13)).toEqual(['mlkem768x25519-sha256', 'sntrup761x25519-sha512', 'sntrup761x25519-sha512@openssh.com', 'curve25519-sha256', 'curve25519-sha256@libssh.org']);
    expect(kexAlgorithms(D12)).toEqual(['sntrup761x25519-sha512@openssh.com', 'curve25519-sha256', 'curve25519-sha256@libssh.org']);
    expect(kexAlgorithms(U22)).toEqual(kexAlgorithms(D12));
    expect(kexAlgorithms({ major: 8, minor: 4 })).toEqual(['curve25519-sha256', 'curve25519-sha256@libssh.org']);
    // before 8.7 the keyword was ChallengeResponseAuthentication
    expect(lines(renderSshdDropIn(defaults, { major: 8, minor: 4 }))).toContain('ChallengeResponseAuthentication no');
    expect(renderSshdDropIn(defaults, D12)).not.toContain('ChallengeResponse');
  });

  it('every algorithm list meets what Bulwark’s own client (npm ssh2) offers by default', () => {
    for (const v of [D12, D13, U22, { major: 8, minor: 4 }]) expect(kexAlgorithms(v).filter((k) => ssh2.DEFAULT_KEX.includes(k))).toContain('curve25519-sha256');
    expect(CIPHERS.filter((c) => ssh2.DEFAULT_CIPHER.includes(c))).toEqual(expect.arrayContaining(['aes256-gcm@openssh.com', 'aes128-gcm@openssh.com']));
    expect(MACS.filter((m) => ssh2.DEFAULT_MAC.includes(m))).toEqual(['hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256-etm@openssh.com']);
    // and ssh2 would pick an AEAD cipher: its first choice the server has
    expect(CIPHERS).toContain(ssh2.DEFAULT_CIPHER.find((c) => CIPHERS.includes(c)));
  });

  it('parses the version sshd -V / ssh -V print', () => {
    expect(parseOpenSshVersion('OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024')).toEqual(D12);
    expect(parseOpenSshVersion('OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1')).toEqual(D13);
    expect(parseOpenSshVersion('sshd: illegal option')).toBeUndefined();
  });

  it('the schema refuses weak limits and a root adminUser', () => {
    expect(() => sshServerSchema.parse({ maxAuthTries: 6 })).toThrow();
    expect(() => sshServerSchema.parse({ loginGraceTime: 120 })).toThrow();
    expect(() => sshServerSchema.parse({ adminUser: 'root' })).toThrow(/leave adminUser unset/);
    expect(() => sshServerSchema.parse({ maxStartups: '10:30' })).toThrow(/START:RATE:FULL/);
    expect(() => sshServerSchema.parse({ banner: 'issue.net' })).toThrow(/absolute path/);
  });
});

describe('effective configuration (sshd -T) against the directives', () => {
  const directives = sshdDirectives(defaults, D12);
  const good = directives
    .filter((d) => d.effective)
    .map((d) => `${d.effective!.key} ${d.keyword === 'PermitRootLogin' ? 'without-password' : d.effective!.values.join(d.keyword === 'AllowUsers' ? ' ' : ',')}`)
    .join('\n');

  it('a hardened sshd passes every check, each CIS check naming its rule', () => {
    const checks = checkEffective(directives, parseSshdT(`port 22\n${good}\n`));
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(checks.find((c) => c.keyword === 'MaxAuthTries')?.baseline).toBe('CIS Debian 12 L1: Ensure sshd MaxAuthTries is configured');
    expect(checks.find((c) => c.keyword === 'Ciphers')?.baseline).toBe('CIS Debian 12 L1: Ensure sshd Ciphers are configured');
    expect(checks.filter((c) => c.baseline).length).toBeGreaterThanOrEqual(18);
  });

  it('an override (an earlier drop-in, a weaker cipher list, a missing keyword) fails with what was seen', () => {
    const text = good
      .replace('passwordauthentication no', 'passwordauthentication yes')
      .replace(/^ciphers .*$/m, 'ciphers aes128-cbc,aes256-gcm@openssh.com')
      .replace(/^maxauthtries .*$/m, '');
    const bad = checkEffective(directives, parseSshdT(text)).filter((c) => !c.ok);
    expect(bad.map((c) => c.keyword).sort()).toEqual(['Ciphers', 'MaxAuthTries', 'PasswordAuthentication']);
    expect(bad.find((c) => c.keyword === 'PasswordAuthentication')).toMatchObject({ seen: 'yes', want: 'no' });
    expect(bad.find((c) => c.keyword === 'MaxAuthTries')?.seen).toMatch(/not shown/);
  });

  it('lists compare as sets; permitrootlogin accepts either name of prohibit-password but not yes', () => {
    const reordered = good.replace(/^macs .*$/m, `macs ${[...MACS].reverse().join(',')}`).replace('without-password', 'prohibit-password');
    expect(checkEffective(directives, parseSshdT(reordered)).every((c) => c.ok)).toBe(true);
    const yes = checkEffective(directives, parseSshdT(good.replace('permitrootlogin without-password', 'permitrootlogin yes')));
    expect(yes.find((c) => c.keyword === 'PermitRootLogin')?.ok).toBe(false);
  });

  it('finds whether sshd_config includes the drop-in directory before any Match block', () => {
    expect(includesDropInDir('Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n', '/etc/ssh/sshd_config.d')).toBe(true);
    expect(includesDropInDir('Include sshd_config.d/*.conf\n', '/etc/ssh/sshd_config.d')).toBe(true);
    expect(includesDropInDir('UsePAM yes\n', '/etc/ssh/sshd_config.d')).toBe(false);
    expect(includesDropInDir('Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh/sshd_config.d')).toBe(false);
  });
});

describe('ssh.server in bulwark.yaml', () => {
  const base = `cluster: lab
nodes:
  - name: n1
    ssh: root@198.51.100.11
    endpoint: 192.0.2.11
`;
  const problems = (text: string) => {
    try {
      parseConfig(text, 'c.yaml');
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map(formatProblem);
      throw e;
    }
  };
  it('defaults to the secure policy', () => {
    expect(parseConfig(base).ssh.server).toMatchObject({ enabled: true, maxAuthTries: 3, loginGraceTime: 30, banner: '/etc/issue.net' });
  });
  it('refuses a node Bulwark reaches as a user sshd would refuse, naming file, line and field', () => {
    expect(problems(`${base}ssh:\n  server:\n    adminUser: ops\n`)).toEqual(['c.yaml:4:10: nodes.0.ssh: connects as root, but ssh.server.adminUser (ops) turns root login off: use ops@…']);
    expect(problems(base.replace('root@', 'deploy@'))).toEqual(['c.yaml:4:10: nodes.0.ssh: connects as deploy, whom sshd would refuse: add it to ssh.server.allowUsers (allowed: root)']);
    expect(problems(`${base.replace('root@', 'ops@')}ssh:\n  server:\n    adminUser: ops\n`)).toEqual([]);
    expect(problems(`${base}ssh:\n  server:\n    maxAuthTries: 9\n`)[0]).toMatch(/^c\.yaml:8:19: ssh\.server\.maxAuthTries: /);
  });
});
