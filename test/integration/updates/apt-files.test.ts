import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { localUpdatesHost } from '../../../src/updates/apply.js';
import { updatesAudit } from '../../../src/updates/audit.js';
import { updatesReconciler } from '../../../src/updates/reconciler.js';
import { parseAptConfigDump } from '../../../src/updates/render.js';
import { run } from '../../../src/util/exec.js';

// The origin lists of unattended-upgrades' stock 50unattended-upgrades (Debian 12, 2.9.1): the whole
// stable release, not only its security archive.
const STOCK_50 = `Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=\${distro_codename},label=Debian";
        "origin=Debian,codename=\${distro_codename},label=Debian-Security";
        "origin=Debian,codename=\${distro_codename}-security,label=Debian-Security";
};
Unattended-Upgrade::Package-Blacklist {
};
`;

const root = mkdtempSync(join(tmpdir(), 'bw-upd-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (p: string) => join(root, p);

const CONFIG = parseConfig(`cluster: t
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
`);

/** apt-config reading the temp root's apt.conf.d (APT_CONFIG names a file that points apt there). */
async function aptConfigDump(): Promise<Map<string, string[]>> {
  writeFileSync(at('apt.conf'), `Dir::Etc::Parts "${at('/etc/apt/apt.conf.d')}";\nDir::Etc::main "/dev/null";\n`);
  const r = await run(['apt-config', 'dump'], { env: { ...process.env, APT_CONFIG: at('apt.conf') } });
  expect(r.code, r.stderr).toBe(0);
  return parseAptConfigDump(r.stdout);
}

describe('the updates reconciler on a Debian 12 tree, read back by the real apt-config', () => {
  mkdirSync(at('/etc/apt/apt.conf.d'), { recursive: true });
  mkdirSync(at('/etc/apt/sources.list.d'), { recursive: true });
  writeFileSync(at('/etc/apt/apt.conf.d/50unattended-upgrades'), STOCK_50);
  writeFileSync(at('/etc/apt/sources.list'), 'deb http://deb.debian.org/debian bookworm main\n');
  writeFileSync(at('/etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n');
  const log = pino({ level: 'silent' });
  const rec = updatesReconciler(() => localUpdatesHost(root));

  it('first pass writes the sources and the apt/needrestart files; the second finds nothing to do', async () => {
    const r1 = await rec.reconcile({ config: CONFIG, nodeName: 'n1', log });
    expect(r1.error).toBeUndefined();
    expect(r1.drift.join('\n')).toContain('/etc/apt/sources.list.d/bulwark-security.sources');
    expect(r1.drift.join('\n')).toContain('/etc/needrestart/conf.d/50-bulwark.conf');
    expect(readFileSync(at('/etc/apt/sources.list.d/bulwark-security.sources'), 'utf8')).toContain('Suites: bookworm-security');
    const r2 = await rec.reconcile({ config: CONFIG, nodeName: 'n1', log });
    expect(r2).toMatchObject({ changed: false, drift: [] });
  });

  it('apt sees the security archive only, daily, no automatic reboot: the stock list is cleared', async () => {
    const d = await aptConfigDump();
    expect(d.get('Unattended-Upgrade::Origins-Pattern')?.filter(Boolean)).toEqual(['origin=Debian,codename=${distro_codename}-security,label=Debian-Security']);
    expect(d.get('APT::Periodic::Unattended-Upgrade')).toEqual(['1']);
    expect(d.get('APT::Periodic::Update-Package-Lists')).toEqual(['1']);
    expect(d.get('Unattended-Upgrade::Automatic-Reboot')).toEqual(['false']);
  });

  it('audit: the security source and the unattended settings pass; a hand edit is drift the next pass repairs', async () => {
    const audit = updatesAudit(() => {
      const h = localUpdatesHost(root);
      return {
        ...h,
        exec: (argv) => (argv[0] === 'apt-config' ? run(argv, { env: { ...process.env, APT_CONFIG: at('apt.conf') } }) : Promise.resolve({ code: 1, stdout: '', stderr: 'not installed here' })),
      };
    }, root);
    const checks = await audit.run({ config: CONFIG, nodeName: 'n1' });
    const by = (id: string) => checks.find((c) => c.id === id);
    expect(by('updates.security-source')).toMatchObject({ status: 'pass', baseline: 'CIS Debian 12 L1: Ensure package manager repositories are configured' });
    // the package isn't installed in this tree: the check says so rather than passing on the files alone
    expect(by('updates.unattended-security')).toMatchObject({ status: 'fail', evidence: 'unattended-upgrades not installed' });
    expect(by('updates.reboot-policy')?.status).toBe('pass');
    expect(by('updates.last-run')?.status).toBe('fail');

    writeFileSync(at('/etc/apt/apt.conf.d/20auto-upgrades'), 'APT::Periodic::Unattended-Upgrade "0";\n');
    const r = await updatesReconciler(() => localUpdatesHost(root)).reconcile({ config: CONFIG, nodeName: 'n1', log: pino({ level: 'silent' }) });
    expect(r.drift).toEqual(['/etc/apt/apt.conf.d/20auto-upgrades rewritten (missing or changed)']);
    expect((await aptConfigDump()).get('APT::Periodic::Unattended-Upgrade')).toEqual(['1']);
  });
});
