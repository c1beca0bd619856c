import { describe, expect, it } from 'vitest';
import { lastRunCheck } from '../../../src/updates/audit.js';
import { distroFromOsRelease } from '../../../src/updates/apply.js';
import { AUTO_UPGRADES, NEEDRESTART_CONF, parseAptConfigDump, renderUpdates, UNATTENDED_CONF } from '../../../src/updates/render.js';
import { updatesSchema } from '../../../src/updates/schema.js';

const BOOKWORM = { id: 'debian', codename: 'bookworm' };
const file = (files: { path: string; content: string }[], p: string) => files.find((f) => f.path === p)?.content ?? '';

describe('updates: rendered files', () => {
  it('defaults: daily lists and unattended upgrades, security archive only, no reboot, needrestart automatic', () => {
    const f = renderUpdates(updatesSchema.parse({}), BOOKWORM);
    expect(file(f, AUTO_UPGRADES)).toContain('APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n');
    const u = file(f, UNATTENDED_CONF);
    expect(u).toContain('#clear Unattended-Upgrade::Origins-Pattern;\n');
    expect(u).toContain('#clear Unattended-Upgrade::Allowed-Origins;\n');
    expect(u).toContain('Unattended-Upgrade::Origins-Pattern {\n  "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n};');
    expect(u).toContain('Unattended-Upgrade::Automatic-Reboot "false";');
    expect(u).not.toContain('Automatic-Reboot-Time');
    expect(file(f, NEEDRESTART_CONF)).toContain("$nrconf{restart} = 'a';");
  });

  it('reboot on: the maintenance window is the reboot time; restartServices off lists only; disabled turns the timer job off', () => {
    const f = renderUpdates(updatesSchema.parse({ enabled: false, reboot: { enabled: true, time: '03:30' }, restartServices: false }), BOOKWORM);
    expect(file(f, UNATTENDED_CONF)).toContain('Unattended-Upgrade::Automatic-Reboot "true";\nUnattended-Upgrade::Automatic-Reboot-Time "03:30";\n');
    expect(file(f, NEEDRESTART_CONF)).toContain("$nrconf{restart} = 'l';");
    expect(file(f, AUTO_UPGRADES)).toContain('APT::Periodic::Unattended-Upgrade "0";');
  });

  it('Ubuntu: the -security pocket of the Ubuntu archive', () => {
    expect(file(renderUpdates(updatesSchema.parse({}), { id: 'ubuntu', codename: 'noble' }), UNATTENDED_CONF)).toContain('"origin=Ubuntu,archive=${distro_codename}-security,label=Ubuntu";');
  });

  it('parses apt-config dump, list values included', () => {
    const d = parseAptConfigDump(
      'APT::Periodic::Unattended-Upgrade "1";\nUnattended-Upgrade::Origins-Pattern "";\nUnattended-Upgrade::Origins-Pattern:: "origin=Debian,a";\nUnattended-Upgrade::Origins-Pattern:: "b";\n',
    );
    expect(d.get('APT::Periodic::Unattended-Upgrade')).toEqual(['1']);
    expect(d.get('Unattended-Upgrade::Origins-Pattern')?.filter(Boolean)).toEqual(['origin=Debian,a', 'b']);
  });

  it('os-release: id and codename (Debian, Ubuntu, quoted or not)', () => {
    expect(distroFromOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n')).toEqual(BOOKWORM);
    expect(distroFromOsRelease('ID=ubuntu\nVERSION_CODENAME="noble"\n')).toEqual({ id: 'ubuntu', codename: 'noble' });
  });
});

describe('updates: the last-run check', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  const h = 3_600_000;
  it('passes within maxAgeDays, fails beyond', () => {
    expect(lastRunCheck({ stampMs: now - 30 * h, nowMs: now }, 3)).toMatchObject({ status: 'pass', evidence: expect.stringContaining('30.0 h ago') as string });
    expect(lastRunCheck({ stampMs: now - 4 * 24 * h, nowMs: now }, 3)).toMatchObject({ status: 'fail' });
  });
  it('is n/a right after bootstrap (no run yet, installed recently), fails when never run for longer', () => {
    expect(lastRunCheck({ installedMs: now - 2 * h, nowMs: now }, 3)).toMatchObject({ status: 'n/a', evidence: expect.stringContaining('no run yet') as string });
    expect(lastRunCheck({ installedMs: now - 10 * 24 * h, nowMs: now }, 3)).toMatchObject({ status: 'fail' });
    expect(lastRunCheck({ nowMs: now }, 3)).toMatchObject({ status: 'fail', evidence: 'unattended-upgrades is not installed' });
  });
  it('names the CIS rule it answers', () => {
    expect(lastRunCheck({ nowMs: now }, 3).baseline).toBe('CIS Debian 12 L1: Ensure updates, patches, and additional security software are installed');
  });
});
