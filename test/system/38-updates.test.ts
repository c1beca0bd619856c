import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { planLab } from '../../src/lab/topology.js';
import { bulwark } from '../helpers/lab.js';
import { aptReaches, expectSecurityUpdateInstalled, shOn } from '../helpers/updates.js';

// The default package path and security updates, on the lab: n3 installs its packages from the lab's apt
// mirror on the outside network (packages: apt), every node's sources point there, and the firewall lets apt
// (and only apt) reach it. A canary package is installed, a newer version is published in the mirror's
// security suite, and the node's own unattended-upgrades installs it; needrestart restarts the canary's
// service, whose program the update replaced.

interface BootstrapJson {
  ok: boolean;
  nodes: { node: string; ok: boolean; steps: { step: string; changed: boolean; detail: string }[] }[];
}
interface Audit {
  nodes: { node: string; checks: { id: string; status: 'pass' | 'fail' | 'n/a'; evidence: string; baseline?: string }[] }[];
}

const work = mkdtempSync(join(tmpdir(), 'bw-sys-upd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const plan = planLab();
const N = 'n3';

const sh = (cmd: string, timeoutMs?: number) => shOn(N, cmd, timeoutMs);

/** The node's firewall as nft lists it, for "in force" checks. */
const table = () => sh('nft list table inet bulwark');
/** The egress policy: the output chain and the mirror set, counters aside (no dynamic content). */
const egress = async () => (await sh('nft list chain inet bulwark output; nft list set inet bulwark apt_mirrors4')).replace(/counter packets \d+ bytes \d+/g, 'counter');
const aptReachesMirror = (asApt: boolean) => aptReaches(N, asApt);

async function audit(node: string): Promise<Map<string, { status: string; evidence: string; baseline?: string }>> {
  const r = await bulwark(['audit', node, '--json']);
  const j = JSON.parse(r.stdout) as Audit;
  return new Map((j.nodes[0]?.checks ?? []).filter((c) => c.id.startsWith('updates.')).map((c) => [c.id, c]));
}

describe('packages from the lab mirror and unattended security updates', () => {
  it('the first bootstrap gave n3 its packages from the mirror (apt sources written before), n1 its bundle', () => {
    const j = JSON.parse(inject('firstBootstrap')) as BootstrapJson;
    const step = (node: string, s: string) => j.nodes.find((n) => n.node === node)?.steps.find((x) => x.step === s)?.detail ?? '';
    expect(step(N, 'sources')).toContain(`mirrors http://${plan.outsideAddr}/debian`);
    expect(step(N, 'packages')).toMatch(/installed .*unattended-upgrades.* from the node's apt sources/);
    expect(step('n1', 'packages')).toMatch(/offline bundle/);
  });

  it('the firewall in force lets apt reach the mirror and nothing else on the node', async () => {
    const t = await table();
    expect(t).toMatch(new RegExp(`set apt_mirrors4 \\{[^}]*elements = \\{ ${plan.outsideAddr.replace(/\./g, '\\.')} \\. 80 \\}`, 's'));
    expect(t).not.toContain('out-apt-http');
    expect(await aptReachesMirror(true)).toBe('open');
    expect(await aptReachesMirror(false)).toBe('closed');
  });

  it('a second bootstrap installs a removed package from the mirror under the firewall', async () => {
    await sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq needrestart');
    const before = await egress();
    expect(before).toContain('out-apt-mirrors4');
    const r = await bulwark(['bootstrap', N, '--json'], { timeoutMs: 600_000 });
    const j = JSON.parse(r.stdout) as BootstrapJson;
    expect(j.ok, r.stdout + r.stderr).toBe(true);
    expect(j.nodes[0]?.steps.find((s) => s.step === 'packages')?.detail).toBe("installed needrestart from the node's apt sources");
    expect(j.nodes[0]?.steps.find((s) => s.step === 'sources')?.changed).toBe(false);
    // the same egress policy before and after: it held throughout
    expect(await egress()).toBe(before);
    expect(await sh("dpkg-query -W -f='${Status}' needrestart")).toBe('install ok installed');
  });

  it('right after bootstrap the audit passes the updates checks, the last run n/a', async () => {
    const a = await audit(N);
    expect(a.get('updates.security-source')).toMatchObject({ status: 'pass', baseline: 'CIS Debian 12 L1: Ensure package manager repositories are configured' });
    expect(a.get('updates.security-source')?.evidence).toContain(`bookworm-security from http://${plan.outsideAddr}/debian-security`);
    expect(a.get('updates.unattended-security')).toMatchObject({ status: 'pass' });
    expect(a.get('updates.needrestart')).toMatchObject({ status: 'pass' });
    expect(a.get('updates.reboot-policy')).toMatchObject({ status: 'pass', evidence: 'Automatic-Reboot "false" (as configured)' });
    expect(a.get('updates.last-run')).toMatchObject({ status: 'n/a' });
  });

  it('a security update published in the mirror is installed by the node itself, and needrestart restarts the service it replaced', async () => {
    await expectSecurityUpdateInstalled(N, 'bookworm', work);
  });

  it('afterwards the audit sees a successful run', async () => {
    const a = await audit(N);
    expect(a.get('updates.last-run')).toMatchObject({ status: 'pass', baseline: 'CIS Debian 12 L1: Ensure updates, patches, and additional security software are installed' });
    expect(a.get('updates.last-run')?.evidence).toMatch(/last successful unattended-upgrade run 0\.\d h ago/);
  });
});
