import { describe, expect, it } from 'vitest';
import { auditRuleGroups, auditUnavailable, deletionRules, missingRules, renderAuditRules, ruleSignature } from '../../../src/hardening/auditd.js';
import { bannerLeaks, renderBanner } from '../../../src/hardening/banner.js';
import { compareIntegrity, judgeLastResult, parseDpkgVerify, pathMatches, renderIntegrityUnits, type Manifest } from '../../../src/hardening/integrity.js';
import { chageArgv, editLoginDefs, editPamUnix, loginDefsDrift, loginDefsWanted, pamUnixHashing, planAging, readLoginDefs } from '../../../src/hardening/login-defs.js';
import { loadedModules, modprobeProbeScript, parseModprobeProbe, renderModprobe } from '../../../src/hardening/modules.js';
import { hardeningSchema } from '../../../src/hardening/schema.js';
import { renderSystemFiles } from '../../../src/hardening/system-apply.js';

const cfg = (h: unknown = {}) => hardeningSchema.parse(h);

describe('kernel modules', () => {
  it('renders install /bin/false and blacklist for each default module, none of what Bulwark needs', () => {
    const [f] = renderModprobe(cfg().modules);
    expect(f?.path).toBe('/etc/modprobe.d/bulwark-disabled-modules.conf');
    for (const m of ['dccp', 'sctp', 'rds', 'tipc', 'cramfs', 'freevxfs', 'hfs', 'hfsplus', 'jffs2', 'usb-storage', 'firewire-core']) {
      expect(f?.content.split('\n')).toEqual(expect.arrayContaining([`install ${m} /bin/false`, `blacklist ${m}`]));
    }
    for (const m of ['overlay', 'wireguard', 'nf_tables', 'vfat', 'squashfs', 'udf']) expect(f?.content).not.toMatch(new RegExp(`\\b${m}\\b`));
    expect(renderModprobe(cfg({ modules: { enabled: false } }).modules)).toEqual([]);
    expect(renderModprobe(cfg({ modules: { disable: ['sctp'] } }).modules)[0]?.content).toMatch(/^install sctp \/bin\/false\nblacklist sctp\n$/m);
  });

  it('refuses a module Bulwark needs, and a bad name, naming the field', () => {
    const r = hardeningSchema.safeParse({ modules: { disable: ['sctp', 'nf_tables'] } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ['modules', 'disable', 1] });
    expect(r.error?.issues[0]?.message).toMatch(/needed by Bulwark/);
    expect(hardeningSchema.safeParse({ modules: { disable: ['a b'] } }).success).toBe(false);
  });

  it('parses the modprobe dry-run probe and /proc/modules', () => {
    const out =
      'install /bin/false \n@@bulwark sctp 0\nmodprobe: FATAL: Module dccp not found in directory /lib/modules/6.1.0\n@@bulwark dccp 1\ninsmod /lib/modules/6.1.0/kernel/fs/hfs/hfs.ko \n@@bulwark hfs 0\n';
    const p = parseModprobeProbe(['sctp', 'dccp', 'hfs', 'rds'], out);
    expect(p.get('sctp')).toMatchObject({ refused: true });
    expect(p.get('dccp')).toMatchObject({ refused: false, output: expect.stringMatching(/not found/) });
    expect(p.get('hfs')?.refused).toBe(false);
    expect(p.get('rds')).toMatchObject({ refused: false, output: 'no answer from modprobe' });
    expect(modprobeProbeScript(['sctp'], "/tmp/it's")).toBe(`modprobe -C '/tmp/it'\\''s' -n -v 'sctp' 2>&1; echo "@@bulwark sctp $?"`);
    expect(loadedModules('usb_storage 1 0 - Live 0x0\nsctp 2 0 - Live 0x0\n')).toEqual(new Set(['usb-storage', 'sctp']));
    expect(loadedModules(undefined)).toBeUndefined();
  });
});

const DEFS = `# comment\nMAIL_DIR        /var/mail\nUMASK\t\t022\n#PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\nENCRYPT_METHOD SHA512\nPASS_MAX_DAYS 5\n`;

describe('login.defs, pam_unix and aging', () => {
  it('sets only the owned keys, keeps every other line, comments out duplicates, appends the missing, idempotently', () => {
    const want = loginDefsWanted(cfg().logins);
    expect(want).toEqual({ UMASK: '027', PASS_MAX_DAYS: '365', PASS_MIN_DAYS: '1', PASS_WARN_AGE: '7', ENCRYPT_METHOD: 'YESCRYPT', YESCRYPT_COST_FACTOR: '5' });
    const out = editLoginDefs(DEFS, want);
    expect(out).toContain('# comment\nMAIL_DIR        /var/mail\nUMASK\t027\n#PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t365\n');
    expect(out).toContain('# PASS_MAX_DAYS 5  (duplicate, disabled by Bulwark)');
    expect(out).toMatch(/# Set by Bulwark \(hardening.logins\):\nYESCRYPT_COST_FACTOR\t5\n$/);
    expect(readLoginDefs(out).get('PASS_MAX_DAYS')).toBe('365');
    expect(editLoginDefs(out, want)).toBe(out);
    expect(loginDefsDrift(out, want).size).toBe(0);
    expect(loginDefsDrift(DEFS, want).get('PASS_MAX_DAYS')).toBe('5');
    const sha = loginDefsWanted(cfg({ logins: { hash: 'sha512' } }).logins);
    expect(sha).toMatchObject({ ENCRYPT_METHOD: 'SHA512', SHA_CRYPT_MIN_ROUNDS: '65536', SHA_CRYPT_MAX_ROUNDS: '65536' });
    expect(hardeningSchema.safeParse({ logins: { passMinDays: 400 } }).success).toBe(false);
  });

  it("sets pam_unix's hashing on Debian's common-password line and nothing else", () => {
    const pam = '# here\npassword\t[success=1 default=ignore]\tpam_unix.so obscure sha512 rounds=5000\npassword\trequisite\t\t\tpam_deny.so\n';
    const out = editPamUnix(pam, cfg().logins)!;
    expect(out).toBe('# here\npassword\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt rounds=5\npassword\trequisite\t\t\tpam_deny.so\n');
    expect(editPamUnix(out, cfg().logins)).toBe(out);
    expect(pamUnixHashing(out, cfg().logins)).toEqual({ ok: true, evidence: 'pam_unix yescrypt rounds=5' });
    expect(pamUnixHashing(pam, cfg().logins).ok).toBe(false);
    expect(editPamUnix('auth required pam_unix.so\n', cfg().logins)).toBeUndefined();
  });

  it('ages users with a usable password, never locked or passwordless ones, and not one it would expire at once', () => {
    const today = 20_000;
    const shadow = [
      'root:*:19000:0:99999:7:::',
      'locked:!$y$j9T$abc:19990:0:99999:7:::',
      'nopw::19990:0:99999:7:::',
      'alice:$y$j9T$abc:19990:0:99999:7:::',
      'bob:$y$j9T$abc:19990:1:365:7:::',
      'old:$6$abc:19000:0:99999:7:::',
      'first:$6$abc:0:0:99999:7:::',
    ].join('\n');
    const p = planAging(shadow, cfg().logins, today);
    expect(p.apply).toEqual(['alice']);
    expect(p.ok).toEqual(['bob']);
    expect(p.skip.map((s) => s.user)).toEqual(['old', 'first']);
    expect(p.skip[0]?.reason).toMatch(/would expire it at once/);
    expect(chageArgv('alice', cfg().logins, '/')).toEqual(['chage', '--mindays', '1', '--maxdays', '365', '--warndays', '7', 'alice']);
    expect(chageArgv('alice', cfg().logins, '/tmp/r')).toEqual(['chage', '--root', '/tmp/r', '--mindays', '1', '--maxdays', '365', '--warndays', '7', 'alice']);
  });
});

describe('banner', () => {
  it('writes the same text to issue, issue.net and motd; refuses getty escapes; finds the OS named', () => {
    const files = renderBanner(cfg().banner);
    expect(files.map((f) => f.path)).toEqual(['/etc/issue', '/etc/issue.net', '/etc/motd']);
    expect(new Set(files.map((f) => f.content)).size).toBe(1);
    expect(files[0]?.content).toMatch(/^Authorized use only/);
    expect(hardeningSchema.safeParse({ banner: { text: 'Welcome to \\s \\r' } }).success).toBe(false);
    expect(bannerLeaks('Debian GNU/Linux 12 \\n \\l', { id: 'debian', versionId: '12' })).toBe('names debian');
    expect(bannerLeaks(files[0]!.content, { id: 'debian', versionId: '12' })).toBeUndefined();
    expect(renderBanner(cfg({ banner: { text: 'Private system' } }).banner)[0]?.content).toBe('Private system\n');
  });
});

describe('audit rules', () => {
  it('watches identity, sudoers, sshd, Bulwark config and keys, time, hostname and module loading', () => {
    const text = renderAuditRules(cfg().auditd)[0]!.content;
    for (const line of [
      '-w /etc/shadow -p wa -k identity',
      '-w /etc/security/opasswd -p wa -k identity',
      '-w /etc/sudoers.d -p wa -k scope',
      '-w /etc/ssh/sshd_config.d -p wa -k sshd',
      '-w /etc/bulwark -p wa -k bulwark',
      '-w /var/lib/bulwark/mesh -p wa -k bulwark',
      '-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change',
      '-a always,exit -F arch=b64 -S sethostname,setdomainname -k system-locale',
      '-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k kernel_modules',
    ])
      expect(text.split('\n')).toContain(line);
    expect(text).not.toMatch(/^-e 2/m);
    expect(renderAuditRules(cfg({ auditd: { watch: ['/srv/app'] } }).auditd)[0]!.content).toContain('-w /srv/app -p wa -k bulwark-extra');
  });

  it("matches rules against auditctl -l's rewriting (key=, syscall order) and names the missing", () => {
    const list =
      '-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b32 -S stime,settimeofday,adjtimex,clock_settime -F key=time-change\n-a always,exit -F arch=b64 -S settimeofday,adjtimex,clock_settime -F key=time-change\n';
    expect(ruleSignature('-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change')).toBe(
      ruleSignature('-a always,exit -F arch=b64 -S settimeofday,adjtimex,clock_settime -F key=time-change'),
    );
    const time = auditRuleGroups(cfg().auditd).find((g) => g.key === 'time-change')!.rules;
    expect(missingRules(time, list)).toEqual(['-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change', '-w /etc/localtime -p wa -k time-change']);
    expect(missingRules(['-w /etc/passwd -p wa -k identity'], list)).toEqual([]);
    expect(missingRules(['-w /etc/passwd -p wa -k identity'], '-w /etc/passwd -p w -k identity\n')).toHaveLength(1);
    expect(deletionRules(['-w /a -p wa -k x', '-a always,exit -S x -k y'])).toEqual(['-W /a -p wa -k x', '-d always,exit -S x -k y']);
    expect(auditUnavailable(255, 'Error sending status request (Operation not permitted)')).toBe('no audit netlink in this container');
    expect(auditUnavailable(255, 'Error - audit support not in kernel', 'systemd-nspawn')).toBe('no audit netlink in this container (systemd-nspawn: auditctl says "audit support not in kernel")');
    expect(auditUnavailable(255, 'Error - audit support not in kernel')).toBe('audit support not in this kernel');
    expect(auditUnavailable(0, '')).toBeUndefined();
  });
});

describe('integrity', () => {
  const m: Manifest = {
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    files: { '/usr/lib/bulwark/bulwark.mjs': { sha256: 'aa', mode: 0o644 }, '/etc/bulwark/bulwark.yaml': { sha256: 'bb', mode: 0o640 } },
    packageBaseline: [
      { path: '/etc/debuginfod/elfutils.urls', flags: 'missing' },
      { path: '/usr/share/x', flags: '??5??????', sha256: 'cc' },
    ],
  };
  const ic = cfg().integrity;
  const at = new Date('2026-01-02T00:00:00Z');

  it('parses dpkg --verify (conffile marker, missing) and matches ignore globs', () => {
    expect(parseDpkgVerify('missing   c /etc/debuginfod/elfutils.urls\n??5??????   /usr/share/x\n??5?????? c /etc/login.defs\nrandom noise\n')).toEqual([
      { path: '/etc/debuginfod/elfutils.urls', flags: 'missing' },
      { path: '/usr/share/x', flags: '??5??????' },
      { path: '/etc/login.defs', flags: '??5??????' },
    ]);
    expect(pathMatches('/etc/apt/apt.conf.d/*', '/etc/apt/apt.conf.d/50unattended-upgrades')).toBe(true);
    expect(pathMatches('/etc/apt/*', '/etc/apt/apt.conf.d/x')).toBe(false);
  });

  it('is clean on the baseline; names a changed Bulwark file, a new package change and a further change to a baseline file', () => {
    const same = { '/usr/lib/bulwark/bulwark.mjs': { sha256: 'aa', mode: 0o644 }, '/etc/bulwark/bulwark.yaml': { sha256: 'bb', mode: 0o640 } };
    const base = [...m.packageBaseline, { path: '/etc/login.defs', flags: '??5??????' }];
    expect(compareIntegrity(m, same, base, ic, at)).toMatchObject({ ok: true, packages: { changed: [], ignored: 1, baseline: 2 } });
    const r = compareIntegrity(
      m,
      { ...same, '/usr/lib/bulwark/bulwark.mjs': { sha256: 'zz', mode: 0o644 }, '/usr/lib/bulwark/evil.mjs': { sha256: 'ee', mode: 0o755 } },
      [
        { path: '/usr/share/x', flags: '??5??????', sha256: 'dd' },
        { path: '/usr/bin/ls', flags: '??5??????' },
      ],
      ic,
      at,
    );
    expect(r.ok).toBe(false);
    expect(r.bulwark).toEqual({ changed: ['/usr/lib/bulwark/bulwark.mjs'], missing: [], added: ['/usr/lib/bulwark/evil.mjs'] });
    expect(r.packages.changed.map((c) => c.path)).toEqual(['/usr/share/x', '/usr/bin/ls']);
    expect(compareIntegrity(m, { '/usr/lib/bulwark/bulwark.mjs': { sha256: 'aa', mode: 0o755 } }, [], ic, at).bulwark).toEqual({
      changed: ['/usr/lib/bulwark/bulwark.mjs'],
      missing: ['/etc/bulwark/bulwark.yaml'],
      added: [],
    });
    expect(compareIntegrity(m, same, [{ path: '/etc/x.conf', flags: '??5??????' }], cfg({ integrity: { ignore: ['/etc/*.conf'] } }).integrity, at).ok).toBe(true);
  });

  it('the audit verdict: pass when clean and recent; fail when never run, stale or changed, naming the file', () => {
    const clean = JSON.stringify(compareIntegrity(m, { '/usr/lib/bulwark/bulwark.mjs': { sha256: 'aa', mode: 0o644 }, '/etc/bulwark/bulwark.yaml': { sha256: 'bb', mode: 0o640 } }, [], ic, at));
    expect(judgeLastResult(clean, ic, new Date('2026-01-02T10:00:00Z')).status).toBe('pass');
    expect(judgeLastResult(clean, ic, new Date('2026-01-05T00:00:00Z'))).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/older than 48 h/) });
    expect(judgeLastResult(undefined, ic, at)).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/never ran/) });
    const bad = JSON.stringify(compareIntegrity(m, { '/usr/lib/bulwark/bulwark.mjs': { sha256: 'zz', mode: 0o644 }, '/etc/bulwark/bulwark.yaml': { sha256: 'bb', mode: 0o640 } }, [], ic, at));
    expect(judgeLastResult(bad, ic, at)).toMatchObject({ status: 'fail', evidence: expect.stringContaining('changed: /usr/lib/bulwark/bulwark.mjs') });
  });

  it('renders the timer and a oneshot service running bulwark integrity check', () => {
    const [svc, timer] = renderIntegrityUnits(cfg({ integrity: { onCalendar: '*-*-* 03:00' } }).integrity);
    expect(svc?.content).toMatch(/^Type=oneshot$/m);
    expect(svc?.content).toMatch(/^ExecStart=\/usr\/lib\/bulwark\/node \/usr\/lib\/bulwark\/bulwark.mjs integrity check$/m);
    expect(timer?.content).toMatch(/^OnCalendar=\*-\*-\* 03:00$/m);
    expect(timer?.content).toMatch(/^WantedBy=timers.target$/m);
    expect(hardeningSchema.safeParse({ integrity: { onCalendar: 'daily\nExecStart=/bin/sh' } }).success).toBe(false);
  });

  it('every system file has a distinct path and mechanism; all off renders nothing', () => {
    const files = renderSystemFiles(cfg());
    expect(new Set(files.map((f) => f.path)).size).toBe(files.length);
    expect(new Set(files.map((f) => f.mechanism)).size).toBe(files.length);
    const off = { enabled: false };
    expect(renderSystemFiles(cfg({ modules: off, banner: off, auditd: off, integrity: off, logins: off }))).toEqual([]);
  });
});
