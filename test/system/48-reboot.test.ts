import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callThroughNode } from '../helpers/apps.js';
import { buildAppImageArchive, echoAppSpec } from '../helpers/image-app.js';
import { bulwark, LAB_CONFIG, LAB_NODES, LAB_STATE, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';
import { agentDriftThisBoot, BACK_WITHIN_MS, bootFirewallLog, everythingBack, expectFailClosed, holes, killWatchers, labBoots, watchPorts } from '../helpers/reboot.js';

// Reboots on the shared lab: n2 goes down and comes back by itself (bulwark lab reboot, then systemctl
// reboot inside), while an outside client keeps knocking on its ports. Everything must return with no
// manual step, and nothing but 80/443 may ever answer the outside, not even while the machine boots.
const N2 = LAB_NODES[1];
const dir = mkdtempSync(join(tmpdir(), 'bw-reboot-'));
const say = (m: string) => process.stderr.write(`[system] reboot: ${m}\n`);

interface LabStatusJson {
  machines: { name: string; running: boolean; boots: number; pid?: number }[];
  acme?: { root: string };
}
const labStatus = async (): Promise<LabStatusJson> => JSON.parse((await bulwark(['lab', 'status', '--json'], { config: '' })).stdout) as LabStatusJson;
const boots = () => labBoots(N2.name);

/** A WAMP call from outside through n2's router to the app on n2 (autobahn-js over wss, certificate checked). */
async function callApp(): Promise<boolean> {
  return (await callThroughNode(N2, 'com.example.echo', ['after reboot'], 0, LAB_CONFIG, (await labStatus()).acme?.root, dir)).ok;
}

/** Everything n2 runs is back: agent, wireguard-go, the mesh with fresh handshakes, the router over wss, the app. */
const allBack = (t0: number) => everythingBack({ node: N2.name, peers: 2, app: 'echo', callApp }, t0);
const active = async (unit: string) => (await onMachine(N2.name, `systemctl is-active ${unit}`, 15_000)).stdout.trim() === 'active';
const agentDrift = () => agentDriftThisBoot(N2.name);
const bootLog = () => bootFirewallLog(N2.name);

async function auditOf(check: string): Promise<{ id: string; status: string; evidence: string } | undefined> {
  const r = await bulwark(['audit', N2.name, '--json']);
  const j = JSON.parse(r.stdout) as { nodes: { checks: { id: string; status: string; evidence: string }[] }[] };
  return j.nodes[0]?.checks.find((c) => c.id === check);
}

beforeAll(async () => {
  const archive = (await buildAppImageArchive(echoAppSpec(resolve('test/fixtures/echo-app')))).archive;
  await waitFor('router active on n2', () => active('bulwark-router'), 180_000, 1000);
  const add = await bulwark(['app', 'add', 'echo', '--image-archive', archive, '--realm', 'app', '--role', 'backend', '--node', N2.name], { timeoutMs: 300_000 });
  expect(add.code, add.stdout + add.stderr).toBe(0);
  await waitFor('the app answers through n2 before the reboot', callApp, 60_000, 500);
}, 600_000);

afterAll(async () => {
  killWatchers();
  // Whatever a failed test left: the agent enabled and running, the machine up, the app gone.
  if ((await labStatus()).machines.find((m) => m.name === N2.name)?.running === false) await bulwark(['lab', 'start', N2.name], { config: '' });
  await onMachine(N2.name, 'systemctl enable -q bulwark-agent bulwark-firewall.service; systemctl start bulwark-agent');
  await bulwark(['app', 'remove', 'echo', '--node', N2.name]);
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe('a lab node reboots and comes back by itself, fail-closed all the way', () => {
  it('the boot firewall is installed, enabled and has a saved ruleset equal to the live one (audit)', async () => {
    expect(await auditOf('firewall.boot-unit-enabled')).toMatchObject({ status: 'pass' });
    expect(await auditOf('firewall.saved-ruleset')).toMatchObject({ status: 'pass' });
    expect(await auditOf('firewall.fallback-ruleset')).toMatchObject({ status: 'pass' });
  });

  for (const how of ['bulwark lab reboot', 'systemctl reboot inside'] as const) {
    it(`${how}: agent, wireguard-go, mesh, router and app back within 90 s; nothing but 80/443 ever answers the outside`, async () => {
      const before = await boots();
      const watch = await watchPorts(N2.pub);
      // let the watcher see the running node first
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      let t1: number;
      if (how === 'bulwark lab reboot') {
        const r = await bulwark(['lab', 'reboot', N2.name, '--json'], { config: '', timeoutMs: BACK_WITHIN_MS });
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ machines: [{ name: N2.name, action: 'reboot', changed: true, running: true }] });
        t1 = Date.now();
      } else {
        await onMachine(N2.name, 'systemctl reboot', 15_000);
        await waitFor('the supervisor booting n2 again', async () => (await boots()) > before, BACK_WITHIN_MS, 100);
        await waitFor('sshd on n2', async () => (await onMachine(N2.name, 'true', 5000)).code === 0, BACK_WITHIN_MS, 200);
        t1 = Date.now();
      }
      expect(await boots()).toBe(before + 1);
      const at = await allBack(t0);
      const attempts = await watch.stop();
      say(`${how}: back after ${JSON.stringify(at)} s; ${attempts.length} outside connection attempts`);
      // no hole ever; every port tried while n2 was down and booting; 443 answering afterwards
      expectFailClosed(attempts, t0, t1);
      expect(attempts.filter(([, p, r]) => p === 22 && r === 'open')).toEqual([]);
      expect(await bootLog()).toContain('loaded the last applied table inet bulwark');
      // the agent found its table already in place when it started
      expect(await agentDrift()).not.toContain('table inet bulwark missing');
    });
  }

  it('control: with the boot firewall disabled, the node boots with no table until the agent applies one; the agent enables the unit again', async () => {
    await onMachine(N2.name, 'systemctl disable -q bulwark-firewall.service');
    const watch = await watchPorts(N2.pub);
    const t0 = Date.now();
    const r = await bulwark(['lab', 'reboot', N2.name], { config: '', timeoutMs: BACK_WITHIN_MS });
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      'the agent enabling bulwark-firewall.service again',
      async () => (await onMachine(N2.name, 'systemctl is-enabled bulwark-firewall.service')).stdout.trim() === 'enabled',
      60_000,
      500,
    );
    await allBack(t0);
    const attempts = await watch.stop();
    // What the unit prevents: the agent found no table at its start (the ruleset was empty until then).
    expect(await agentDrift()).toContain('table inet bulwark missing');
    expect(await bootLog()).not.toContain('loaded');
    say(
      `control without the boot firewall: outside attempts that reached a closed port ${JSON.stringify(
        holes(attempts)
          .map(([t, p]) => [t - t0, p])
          .slice(0, 10),
      )}`,
    );
    expect(await auditOf('firewall.boot-unit-enabled')).toMatchObject({ status: 'pass' });
  });

  it('with the saved ruleset corrupted, a reboot loads the fallback (SSH from management only, 443 closed) until the agent re-applies', async () => {
    // The agent is held back for this one boot, so the fallback's effect can be seen before it takes over.
    await onMachine(N2.name, `echo '{"nftables": [{"add": {"chain": {"broken": true}}}]}' > /var/lib/bulwark/firewall/last-applied.json && systemctl disable -q bulwark-agent`);
    const before = await boots();
    const r = await bulwark(['lab', 'reboot', N2.name], { config: '', timeoutMs: BACK_WITHIN_MS });
    expect(r.code, r.stderr).toBe(0);
    expect(await boots()).toBe(before + 1);
    // SSH from the management network works (the test itself is using it)
    expect(await bootLog()).toContain('loaded the fail-closed fallback');
    expect((await onMachine(N2.name, 'systemctl is-active bulwark-agent')).stdout.trim()).not.toBe('active');
    const table = (await onMachine(N2.name, 'nft list table inet bulwark')).stdout;
    expect(table).toContain('fallback-in-ssh4');
    expect(table).not.toContain('in-https');
    const probe = async (port: number) => {
      const p = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'node', resolve('test/integration/firewall/probe.mjs'), 'tcp', N2.pub, String(port), '192.0.2.1', '800', '1']);
      return (JSON.parse(p.stdout) as string[])[0];
    };
    expect(await probe(443)).toBe('timeout');
    expect(await probe(22)).toBe('timeout');
    // the agent takes over: the full table (443 answers again), the saved file repaired
    await onMachine(N2.name, 'systemctl enable -q bulwark-agent && systemctl start bulwark-agent');
    await waitFor('443 from outside open again', async () => (await probe(443)) === 'open', 60_000, 300);
    await waitFor('the saved ruleset repaired', async () => (await auditOf('firewall.saved-ruleset'))?.status === 'pass', 60_000, 1000);
    expect(await auditOf('firewall.matches-plan')).toMatchObject({ status: 'pass' });
    expect((await onMachine(N2.name, 'nft -c -j -f /var/lib/bulwark/firewall/last-applied.json && echo loads')).stdout).toContain('loads');
  });

  it('lab stop / start: a stopped machine stays down (idempotent), starts again with its disk, and everything returns', async () => {
    await onMachine(N2.name, 'echo kept > /root/bulwark-reboot-marker');
    const stop = await bulwark(['lab', 'stop', N2.name, '--json'], { config: '' });
    expect(JSON.parse(stop.stdout)).toMatchObject({ machines: [{ name: N2.name, action: 'stop', changed: true, running: false }] });
    const again = await bulwark(['lab', 'stop', N2.name, '--json'], { config: '' });
    expect(JSON.parse(again.stdout)).toMatchObject({ machines: [{ name: N2.name, changed: false, running: false }] });
    expect((await bulwark(['lab', 'status'], { config: '' })).stdout).toMatch(new RegExp(`^${N2.name}\\s+stopped`, 'm'));
    const t0 = Date.now();
    const start = await bulwark(['lab', 'start', N2.name, '--json'], { config: '', timeoutMs: BACK_WITHIN_MS });
    expect(JSON.parse(start.stdout)).toMatchObject({ machines: [{ name: N2.name, action: 'start', changed: true, running: true }] });
    await allBack(t0);
    expect((await onMachine(N2.name, 'cat /root/bulwark-reboot-marker')).stdout.trim()).toBe('kept');
    expect(existsSync(join(LAB_STATE, 'machines', N2.name, 'root', 'root', 'bulwark-reboot-marker'))).toBe(true);
  });
});
