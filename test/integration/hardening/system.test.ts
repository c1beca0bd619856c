import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { HardeningHost } from '../../../src/hardening/apply.js';
import { auditRuleGroups, deletionRules, missingRules } from '../../../src/hardening/auditd.js';
import { LAST_FILE, MANIFEST_FILE } from '../../../src/hardening/integrity.js';
import { runIntegrityCheck, writeManifest, type IntegrityHost } from '../../../src/hardening/integrity-run.js';
import { applySystemHardening } from '../../../src/hardening/system-apply.js';
import { systemHardeningAudit } from '../../../src/hardening/system-audit.js';
import { systemHardeningReconciler } from '../../../src/hardening/system-reconciler.js';
import { parseConfig } from '../../../src/config/index.js';
import { run, runOk } from '../../../src/util/exec.js';

/**
 * System hardening on a scratch root with the real tools (modprobe -C, chage --root, dpkg --root, auditctl
 * against this machine's kernel, its rules removed again); never this machine's own /etc.
 */
const FIX = resolve('test/fixtures/hardening');
const config = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n');
const cfg = config.hardening;
const exec = (argv: string[]) => run(argv, { timeoutMs: 60_000 });
let root = '';
const host = (): HardeningHost => ({ root, exec, systemdRunning: false });
const byId = async (h: () => HardeningHost = host, now = new Date()) => new Map((await systemHardeningAudit(h, () => now).run({ config, nodeName: 'n1' })).map((c) => [c.id, c]));

/** A scratch root: Debian's login.defs and common-password, users, a one-package dpkg database, Bulwark's files. */
function makeRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'bwt-sys-'));
  mkdirSync(join(r, 'etc/pam.d'), { recursive: true });
  cpSync(join(FIX, 'login.defs'), join(r, 'etc/login.defs'));
  cpSync(join(FIX, 'common-password'), join(r, 'etc/pam.d/common-password'));
  writeFileSync(join(r, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nlocked:x:1001:1001::/home/locked:/bin/sh\nold:x:1002:1002::/home/old:/bin/sh\n');
  writeFileSync(join(r, 'etc/group'), 'root:x:0:\nalice:x:1000:\nlocked:x:1001:\nold:x:1002:\n');
  const today = Math.floor(Date.now() / 86_400_000);
  writeFileSync(
    join(r, 'etc/shadow'),
    `root:*:19000:0:99999:7:::\nalice:$y$j9T$abc:${today - 10}:0:99999:7:::\nlocked:!$y$j9T$abc:${today - 10}:0:99999:7:::\nold:$6$abc:${today - 2000}:0:99999:7:::\n`,
  );
  chmodSync(join(r, 'etc/shadow'), 0o640);
  // dpkg database with one package: a plain file and a conffile
  mkdirSync(join(r, 'var/lib/dpkg/info'), { recursive: true });
  mkdirSync(join(r, 'var/lib/dpkg/updates'), { recursive: true });
  mkdirSync(join(r, 'usr/share/bwt'), { recursive: true });
  writeFileSync(join(r, 'usr/share/bwt/a.txt'), 'hello\n');
  writeFileSync(join(r, 'usr/share/bwt/pre.txt'), 'changed before Bulwark came\n');
  writeFileSync(join(r, 'etc/bwt.conf'), 'conf\n');
  return r;
}

async function dpkgDb(r: string): Promise<void> {
  const md5 = async (data: string) => (await runOk(['md5sum'], { stdin: data })).stdout.split(' ')[0]!;
  writeFileSync(
    join(r, 'var/lib/dpkg/status'),
    `Package: bwtest\nStatus: install ok installed\nPriority: optional\nSection: misc\nMaintainer: Test <t@example.org>\nArchitecture: all\nVersion: 1.0\nConffiles:\n /etc/bwt.conf ${await md5('conf\n')}\nDescription: test\n\n`,
  );
  writeFileSync(join(r, 'var/lib/dpkg/available'), '');
  writeFileSync(join(r, 'var/lib/dpkg/info/bwtest.list'), '/.\n/usr\n/usr/share\n/usr/share/bwt\n/usr/share/bwt/a.txt\n/usr/share/bwt/pre.txt\n/etc\n/etc/bwt.conf\n');
  writeFileSync(join(r, 'var/lib/dpkg/info/bwtest.md5sums'), `${await md5('hello\n')}  usr/share/bwt/a.txt\n${await md5('original\n')}  usr/share/bwt/pre.txt\n`);
  mkdirSync(join(r, 'usr/lib/bulwark/chunks'), { recursive: true });
  mkdirSync(join(r, 'etc/bulwark'), { recursive: true });
  writeFileSync(join(r, 'usr/lib/bulwark/bulwark.mjs'), 'console.log(1)\n');
  writeFileSync(join(r, 'usr/lib/bulwark/chunks/a.mjs'), 'export {}\n');
  writeFileSync(join(r, 'etc/bulwark/bulwark.yaml'), 'cluster: c\n', { mode: 0o640 });
}

describe('system hardening on a scratch root', () => {
  beforeAll(async () => {
    root = makeRoot();
    await dpkgDb(root);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes the files, sets only the owned login.defs keys, pam_unix hashing, ages alice, leaves locked and too-old users; then changes nothing', async () => {
    const r1 = await applySystemHardening(cfg, host());
    expect(r1.files.every((f) => f.status === 'written')).toBe(true);
    const defs = readFileSync(join(root, 'etc/login.defs'), 'utf8');
    expect(defs).toMatch(/^PASS_MAX_DAYS\t365$/m);
    expect(defs).toMatch(/^UMASK\t027$/m);
    expect(defs).toMatch(/^ENCRYPT_METHOD\tYESCRYPT$/m);
    // everything else of Debian's file is still there
    const orig = readFileSync(join(FIX, 'login.defs'), 'utf8');
    for (const l of orig.split('\n').filter((x) => /^(MAIL_DIR|UID_MIN|ENV_PATH|LOGIN_TIMEOUT)\s/.test(x))) expect(defs).toContain(l);
    expect(readFileSync(join(root, 'etc/pam.d/common-password'), 'utf8')).toMatch(/^password\t\[success=1 default=ignore\]\tpam_unix\.so obscure yescrypt rounds=5$/m);
    const shadow = readFileSync(join(root, 'etc/shadow'), 'utf8');
    expect(shadow).toMatch(/^alice:\$y\$j9T\$abc:\d+:1:365:7:::$/m);
    expect(shadow).toMatch(/^locked:!\$y\$j9T\$abc:\d+:0:99999:7:::$/m);
    expect(shadow).toMatch(/^old:\$6\$abc:\d+:0:99999:7:::$/m);
    expect(r1.notes.join('\n')).toMatch(/password aging not applied to old: .*would expire it at once/);
    expect(readlinkSync(join(root, 'etc/systemd/system/timers.target.wants/bulwark-integrity.timer'))).toBe('/etc/systemd/system/bulwark-integrity.timer');
    const r2 = await applySystemHardening(cfg, host());
    expect(r2.drift).toEqual([]);
    expect(r2.files.every((f) => f.status === 'unchanged')).toBe(true);
  });

  it('modules: modprobe -n -v runs /bin/false for each listed module; a module dropped from the file fails, named', async () => {
    const c = await byId();
    for (const m of cfg.modules.disable) {
      expect(c.get(`modules.${m}`)?.status, `${m}: ${c.get(`modules.${m}`)?.evidence}`).toBe('pass');
      expect(c.get(`modules.${m}`)?.evidence).toMatch(/^modprobe -n -v: install \/bin\/false; /);
    }
    expect(c.get('modules.sctp')?.baseline).toBe('CIS Debian 12 L2: Ensure sctp kernel module is not available');
    const f = join(root, 'etc/modprobe.d/bulwark-disabled-modules.conf');
    const text = readFileSync(f, 'utf8');
    writeFileSync(f, text.replace(/^(install|blacklist) sctp.*\n/gm, ''));
    const after = await byId();
    expect(after.get('modules.sctp')?.status).toBe('fail');
    expect(after.get('modules.file')?.status).toBe('fail');
    expect(after.get('modules.dccp')?.status).toBe('pass');
    // the agent puts it back
    const rec = await systemHardeningReconciler(host).reconcile({ config, nodeName: 'n1', log: pino({ level: 'silent' }) });
    expect(rec.drift).toEqual(['/etc/modprobe.d/bulwark-disabled-modules.conf rewritten (missing or changed)']);
    expect((await byId()).get('modules.sctp')?.status).toBe('pass');
  });

  it('logins and banner: pass as applied, each naming its CIS rule; an edited key and an OS name in the banner fail', async () => {
    let c = await byId();
    for (const id of ['logins.login-defs.PASS_MAX_DAYS', 'logins.login-defs.UMASK', 'logins.pam-unix-hash', 'banner.issue', 'banner.issue-net', 'banner.motd'])
      expect(c.get(id)?.status, `${id}: ${c.get(id)?.evidence}`).toBe('pass');
    expect(c.get('logins.login-defs.PASS_MIN_DAYS')?.baseline).toBe('CIS Debian 12 L1: Ensure minimum password days is configured');
    expect(c.get('banner.issue-net')?.baseline).toBe('CIS Debian 12 L1: Ensure remote login warning banner is configured properly');
    // the old password is reported: aging it would lock its owner out
    expect(c.get('logins.password-aging')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/^old: password last changed/) });
    const defs = join(root, 'etc/login.defs');
    writeFileSync(defs, readFileSync(defs, 'utf8').replace(/^PASS_MAX_DAYS\t365$/m, 'PASS_MAX_DAYS\t99999'));
    writeFileSync(join(root, 'etc/issue'), 'Debian GNU/Linux 12 \\n \\l\n');
    c = await byId();
    expect(c.get('logins.login-defs.PASS_MAX_DAYS')).toMatchObject({ status: 'fail', evidence: 'PASS_MAX_DAYS 99999, want 365' });
    expect(c.get('banner.issue')?.status).toBe('fail');
    const r = await applySystemHardening(cfg, host());
    expect(r.drift).toEqual(expect.arrayContaining(['/etc/issue rewritten (missing or changed)', "/etc/login.defs: Bulwark's keys set"]));
  });

  it('integrity: manifest, clean check, a tampered Bulwark file and package file are named; restored is clean again', async () => {
    const ih: IntegrityHost = { root, exec, now: () => new Date() };
    writeFileSync(join(root, 'usr/share/bwt/pre.txt'), 'changed before Bulwark came\n');
    const m = await writeManifest(ih);
    expect(m.status).toBe('new');
    expect(Object.keys(m.manifest.files)).toEqual(
      expect.arrayContaining(['/usr/lib/bulwark/bulwark.mjs', '/usr/lib/bulwark/chunks/a.mjs', '/etc/bulwark/bulwark.yaml', '/etc/systemd/system/bulwark-integrity.timer']),
    );
    // the node's earlier local change is its baseline, not a failure
    expect(m.manifest.packageBaseline.map((f) => f.path)).toEqual(['/usr/share/bwt/pre.txt']);
    expect((await writeManifest(ih)).status).toBe('unchanged');
    expect(await runIntegrityCheck(cfg.integrity, ih)).toMatchObject({ ok: true });
    expect((await byId()).get('integrity.last-check')?.status).toBe('pass');

    writeFileSync(join(root, 'usr/lib/bulwark/chunks/a.mjs'), 'export const evil = 1\n');
    writeFileSync(join(root, 'usr/share/bwt/a.txt'), 'tampered\n');
    writeFileSync(join(root, 'usr/share/bwt/pre.txt'), 'changed again\n');
    const bad = await runIntegrityCheck(cfg.integrity, ih);
    expect(bad.ok).toBe(false);
    expect(bad.bulwark.changed).toEqual(['/usr/lib/bulwark/chunks/a.mjs']);
    expect(bad.packages.changed.map((c) => c.path).sort()).toEqual(['/usr/share/bwt/a.txt', '/usr/share/bwt/pre.txt']);
    const c = await byId();
    expect(c.get('integrity.last-check')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('changed: /usr/lib/bulwark/chunks/a.mjs') });
    expect(JSON.parse(readFileSync(join(root, LAST_FILE), 'utf8'))).toMatchObject({ ok: false });
    expect(lstatSync(join(root, MANIFEST_FILE)).mode & 0o777).toBe(0o600);

    writeFileSync(join(root, 'usr/lib/bulwark/chunks/a.mjs'), 'export {}\n');
    writeFileSync(join(root, 'usr/share/bwt/a.txt'), 'hello\n');
    writeFileSync(join(root, 'usr/share/bwt/pre.txt'), 'changed before Bulwark came\n');
    expect(await runIntegrityCheck(cfg.integrity, ih)).toMatchObject({ ok: true });
    // a result too old is stale
    const later = new Date(Date.now() + 72 * 3_600_000);
    expect((await byId(host, later)).get('integrity.last-check')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/older than 48 h/) });
    expect((await byId()).get('integrity.timer')).toMatchObject({ status: 'pass', baseline: 'CIS Debian 12 L1: Ensure filesystem integrity is regularly checked' });
  });
});

describe('audit rules against the kernel', () => {
  const rules = auditRuleGroups(cfg.auditd).flatMap((g) => g.rules);
  // a watch whose parent directory doesn't exist here cannot be loaded on this machine (it can on a node)
  const loadable = rules.filter((r) => !/^-w \/(var\/lib\/bulwark|usr\/lib\/bulwark)\//.test(r));
  let file = '';
  let delFile = '';
  beforeAll(() => {
    root = makeRoot();
    file = join(root, 'bulwark.rules');
    delFile = join(root, 'bulwark-delete.rules');
    writeFileSync(file, `${loadable.join('\n')}\n`);
    writeFileSync(delFile, `-c\n${deletionRules(loadable).join('\n')}\n`);
  });
  afterAll(async () => {
    await run(['auditctl', '-R', delFile]);
    rmSync(root, { recursive: true, force: true });
  });

  it('auditctl loads the rules; the audit sees each group live; removed again, it names the missing rules', async () => {
    const s = await run(['auditctl', '-s']);
    expect(s.code, `this machine's kernel audit must be reachable: ${s.stderr}`).toBe(0);
    const load = await run(['auditctl', '-R', file]);
    expect(load.code, load.stderr).toBe(0);
    expect(missingRules(loadable, (await runOk(['auditctl', '-l'])).stdout)).toEqual([]);
    const c = await byId();
    expect(c.get('auditd.installed')?.status).toBe('pass');
    for (const g of ['identity', 'scope', 'sshd', 'time-change', 'system-locale', 'kernel_modules'])
      expect(c.get(`auditd.loaded.${g}`)?.status, `${g}: ${c.get(`auditd.loaded.${g}`)?.evidence}`).toBe('pass');
    expect(c.get('auditd.loaded.identity')?.baseline).toBe('CIS Debian 12 L2: Ensure events that modify user/group information are collected');
    await runOk(['auditctl', '-R', delFile]);
    const after = await byId();
    expect(after.get('auditd.loaded.identity')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('-w /etc/passwd -p wa -k identity') });
  });

  it('where the audit netlink is out of reach (a new PID namespace, as in a container), the rules are n/a, never pass', async () => {
    const inContainer = (argv: string[]) => run(['unshare', '-p', '-f', '--mount-proc', ...argv], { timeoutMs: 30_000 });
    const c = await byId(() => ({ root, exec: inContainer, systemdRunning: false }));
    for (const g of ['identity', 'scope', 'kernel_modules'])
      expect(c.get(`auditd.loaded.${g}`)).toMatchObject({ status: 'n/a', evidence: 'rules written, not loaded: no audit netlink in this container' });
  });
});
