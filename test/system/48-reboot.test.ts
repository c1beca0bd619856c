import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callFromOutside } from '../helpers/apps.js';
import { buildAppImageArchive, echoAppSpec } from '../helpers/image-app.js';
import { bulwark, LAB_CONFIG, LAB_NODES, LAB_STATE, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';

// Reboots on the shared lab: n2 goes down and comes back by itself (bulwark lab reboot, then systemctl
// reboot inside), while an outside client keeps knocking on its ports. Everything must return with no
// manual step, and nothing but 80/443 may ever answer the outside, not even while the machine boots.
const N2 = LAB_NODES[1];
const BACK_WITHIN_MS = 90_000;
/** Ports the outside client tries: the public ones, SSH, and services that must stay closed to it. */
const WATCHED = [22, 80, 443, 8080, 9110, 7946, 4222, 5432];
const PUBLIC = new Set([80, 443]);
const dir = mkdtempSync(join(tmpdir(), 'bw-reboot-'));
const children: ChildProcess[] = [];
const say = (m: string) => process.stderr.write(`[system] reboot: ${m}\n`);

type Attempt = [number, number, string];

/** Starts the port watcher in the outside namespace; `stop()` ends it and returns every attempt. */
async function watchPorts(host: string): Promise<{ stop(): Promise<Attempt[]> }> {
  const child = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/port-watch.mjs'), host, WATCHED.join(','), '100', '250'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor('the port watcher', async () => out.includes('watching'), 10_000, 50);
  return {
    stop: () =>
      new Promise<Attempt[]>((res, rej) => {
        child.once('exit', () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (!line) rej(new Error(`port watcher printed no result: ${out.slice(-500)}`));
          else res((JSON.parse(line) as { attempts: Attempt[] }).attempts);
        });
        child.stdin!.end();
      }),
  };
}

/** Attempts that reached a port other than 80/443 (each one a hole in the firewall). */
const holes = (attempts: Attempt[]) => attempts.filter(([, port, r]) => r === 'open' && !PUBLIC.has(port));

interface LabStatusJson {
  machines: { name: string; running: boolean; boots: number; pid?: number }[];
  acme?: { root: string };
}
const labStatus = async (): Promise<LabStatusJson> => JSON.parse((await bulwark(['lab', 'status', '--json'], { config: '' })).stdout) as LabStatusJson;
const boots = async () => (await labStatus()).machines.find((m) => m.name === N2.name)?.boots ?? -1;

const active = async (unit: string) => (await onMachine(N2.name, `systemctl is-active ${unit}`, 15_000)).stdout.trim() === 'active';

/** A WAMP call from outside through n2's router to the app on n2 (autobahn-js over wss, certificate checked). */
async function callApp(): Promise<boolean> {
  const acmeRoot = (await labStatus()).acme?.root;
  const acmeConfigured = readFileSync(LAB_CONFIG, 'utf8').includes('\nacme:');
  if (acmeConfigured && acmeRoot) {
    const r = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/acme-session.mjs'), `wss://${N2.pub}/`, acmeRoot, `${N2.name}.lab.bulwark.test`, 'app'], {
      stdin: 'com.example.echo.whoami\n',
      timeoutMs: 20_000,
    });
    return r.stdout.includes('"call":"result"');
  }
  const ca = join(dir, 'n2-cert.pem');
  writeFileSync(ca, (await onMachine(N2.name, 'cat /var/lib/bulwark/router/tls/cert.pem')).stdout);
  return (await callFromOutside(`wss://${N2.pub}/`, ca, 'com.example.echo', ['after reboot'])).ok;
}

interface MeshStatus {
  nodes: { node: string; up: boolean; peers: { name: string; handshakeAgeSec: number | null; reachable: boolean; present: boolean }[] }[];
}

/** Everything n2 runs is back: agent, wireguard-go, the mesh with fresh handshakes, the router over wss, the app. */
async function allBack(t0: number): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  const mark = (what: string) => (at[what] = Math.round((Date.now() - t0) / 100) / 10);
  const left = () => Math.max(1000, BACK_WITHIN_MS - (Date.now() - t0));
  await waitFor('sshd on n2', async () => (await onMachine(N2.name, 'true', 5000)).code === 0, left(), 200);
  mark('ssh');
  await waitFor('bulwark-agent active', () => active('bulwark-agent'), left(), 300);
  mark('agent');
  await waitFor('wireguard-go for bw0 active', () => active('bulwark-wireguard-go@bw0'), left(), 300);
  mark('wireguard-go');
  await waitFor(
    "n2's mesh: both peers present, reachable, with a handshake since the reboot",
    async () => {
      const r = await bulwark(['mesh', 'status', '--json'], { timeoutMs: 30_000 });
      if (r.code !== 0) return false;
      const n = (JSON.parse(r.stdout) as MeshStatus).nodes.find((x) => x.node === N2.name);
      const since = (Date.now() - t0) / 1000;
      return !!n?.up && n.peers.length === 2 && n.peers.every((p) => p.present && p.reachable && p.handshakeAgeSec !== null && p.handshakeAgeSec <= since);
    },
    left(),
    500,
  );
  mark('mesh');
  await waitFor('bulwark-router active', () => active('bulwark-router'), left(), 300);
  await waitFor('the app container unit active', () => active('bulwark-app@echo'), left(), 300);
  mark('app-unit');
  await waitFor('an outside WAMP call through the router to the app', callApp, left(), 300);
  mark('wss');
  expect(Date.now() - t0).toBeLessThan(BACK_WITHIN_MS);
  return at;
}

/** What the agent's firewall found missing or different at its first passes of this boot. */
const agentDriftThisBoot = async () => (await onMachine(N2.name, 'journalctl -b -u bulwark-agent --no-pager -o cat | grep firewall.drift.repaired || true')).stdout;

/** The boot firewall's own report of this boot (which ruleset it loaded). */
const bootFirewallLog = async () => (await onMachine(N2.name, 'journalctl -b -u bulwark-firewall.service --no-pager -o cat')).stdout;

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
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
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
      expect(holes(attempts), JSON.stringify(holes(attempts).slice(0, 5))).toEqual([]);
      expect(attempts.filter(([, p, r]) => p === 22 && r === 'open')).toEqual([]);
      // The watcher really ran while the node was down and booting: every port tried in that window.
      const inWindow = attempts.filter(([t]) => t >= t0 && t <= t1);
      for (const p of WATCHED) expect(inWindow.filter(([, port]) => port === p).length, `attempts on ${p} while n2 rebooted`).toBeGreaterThan(0);
      // ... and saw the node answer again on 443 afterwards (so it was watching the right address)
      expect(attempts.some(([t, p, r]) => t > t1 && p === 443 && r === 'open')).toBe(true);
      expect(await bootFirewallLog()).toContain('loaded the last applied table inet bulwark');
      // the agent found its table already in place when it started
      expect(await agentDriftThisBoot()).not.toContain('table inet bulwark missing');
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
    expect(await agentDriftThisBoot()).toContain('table inet bulwark missing');
    expect(await bootFirewallLog()).not.toContain('loaded');
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
    expect(await bootFirewallLog()).toContain('loaded the fail-closed fallback');
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
