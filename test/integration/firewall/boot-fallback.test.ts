import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { bootFiles, renderBootUnit } from '../../../src/firewall/boot.js';
import { firewallBootAudit } from '../../../src/firewall/boot-audit.js';
import { firewallBootReconciler, type BootHost } from '../../../src/firewall/boot-reconciler.js';
import { diffTable } from '../../../src/firewall/compare.js';
import { FirewallState } from '../../../src/firewall/confirm.js';
import { localApply, localRollback, planFor, type FirewallHost } from '../../../src/firewall/local.js';
import { readTable } from '../../../src/firewall/nft.js';
import { firewallReconciler } from '../../../src/firewall/reconciler.js';
import { Systemctl } from '../../../src/systemd/systemctl.js';
import { parseUnit, splitExecLine, unitValues } from '../../../src/systemd/units.js';
import { run, runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from './netns.js';

// A node namespace (listeners on 22, 443, 8080) and a client namespace holding a management host
// (198.51.100.5) and an outside client (192.0.2.1) by source address. The boot unit's own ExecStart line runs
// in the node namespace with real nft, as systemd would run it at boot.
const NODE = 'bwt-fwb-n';
const CLIENT = 'bwt-fwb-c';
const NODE_IP = '192.0.2.11';
const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));
const cfg = parseConfig(`cluster: c
nodes:
  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}
  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}
firewall:
  managementNetworks: [198.51.100.0/24]
`);
const children: ChildProcess[] = [];
let dir = '';
const log = pino({ level: 'silent' });

const fwHost = (): FirewallHost => ({
  netns: NODE,
  state: new FirewallState(dir),
  probe: async () => ({ resolvers: ['192.0.2.53'], aptUid: 42 }),
  env: {},
  scheduleRollback: async () => 'test',
});
const bootHost = (): BootHost => ({ firewall: fwHost(), unitPath: null, systemctl: new Systemctl() });

async function tcp(from: string, port: number): Promise<string> {
  const r = await runOk([process.execPath, PROBE, 'tcp', NODE_IP, String(port), from, '800', '1'], { netns: CLIENT, timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as string[])[0] ?? '';
}

/** What systemd runs at boot: the unit's ExecStart, in the node's namespace; a reboot starts with no ruleset. */
async function boot(): Promise<{ code: number; stdout: string; stderr: string }> {
  await runOk(['nft', 'flush', 'ruleset'], { netns: NODE });
  const exec = unitValues(parseUnit(renderBootUnit(dir)), 'Service', 'ExecStart')[0]!;
  return run(splitExecLine(exec), { netns: NODE, timeoutMs: 30_000 });
}

describe('fail-closed boot firewall with real nft and packets', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bwt-fwb-'));
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'fwb-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'fwb-c0', 'netns', CLIENT]);
    for (const a of ['192.0.2.11/24', '198.51.100.11/24']) await inNs(NODE, 'ip', 'addr', 'add', a, 'dev', 'fwb-n0');
    for (const a of ['192.0.2.1/24', '198.51.100.5/24']) await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'fwb-c0');
    await inNs(NODE, 'ip', 'link', 'set', 'fwb-n0', 'up');
    await inNs(CLIENT, 'ip', 'link', 'set', 'fwb-c0', 'up');
    const child = spawn('ip', ['netns', 'exec', NODE, process.execPath, SERVER, 'tcp:22', 'tcp:443', 'tcp:8080'], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server not ready')), 10_000);
      child.stdout?.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    // without a ruleset everything answers, so a closed port below is the firewall's doing
    expect(await tcp('192.0.2.1', 22)).toBe('open');
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, CLIENT);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the agent pass writes the fallback and, once the table is as planned, saves it (0600)', async () => {
    const fw = await firewallReconciler(fwHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(fw.error).toBeUndefined();
    const r = await firewallBootReconciler(bootHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(r.error).toBeUndefined();
    expect(r.drift.join()).toMatch(/fallback\.json written/);
    expect(r.notes.join()).toMatch(/saved the live table/);
    const f = bootFiles(dir);
    for (const p of [f.saved, f.fallback]) expect((await runOk(['stat', '-c', '%a', p])).stdout.trim()).toBe('600');
    // a second pass changes nothing
    const again = await firewallBootReconciler(bootHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(again).toMatchObject({ changed: false, drift: [], notes: [] });
  });

  it('boot with the saved ruleset: the full table is back before anything else runs (443 open, SSH only from management)', async () => {
    const r = await boot();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('loaded the last applied table');
    expect(diffTable(await planFor(cfg, 'n1', fwHost()), await readTable({ netns: NODE })).equal).toBe(true);
    expect(await tcp('192.0.2.1', 443)).toBe('open');
    expect(await tcp('192.0.2.1', 22)).toBe('timeout');
    expect(await tcp('198.51.100.5', 22)).toBe('open');
  });

  it('boot with the saved ruleset broken: the fallback loads; SSH from management works, nothing else from anywhere', async () => {
    writeFileSync(bootFiles(dir).saved, '{"nftables": [{"add": {"table": {"family": "inet", "name": "bulwark"}}}, {"add": {"chain": {"oops": 1}}}]}\n');
    const r = await boot();
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('loaded the fail-closed fallback');
    const live = await readTable({ netns: NODE });
    expect(live?.rules.map((x) => x.comment)).toContain('fallback-in-ssh4');
    expect(await tcp('198.51.100.5', 22)).toBe('open');
    expect(await tcp('192.0.2.1', 22)).toBe('timeout');
    expect(await tcp('192.0.2.1', 443)).toBe('timeout');
    expect(await tcp('192.0.2.1', 8080)).toBe('timeout');
    expect(await tcp('198.51.100.5', 443)).toBe('timeout');
    // the audit sees the broken file
    const checks = await firewallBootAudit(bootHost).run({ config: cfg, nodeName: 'n1' });
    expect(checks.find((c) => c.id === 'firewall.saved-ruleset')).toMatchObject({ status: 'fail', baseline: 'CIS Debian 12 L1: Ensure nftables rules are permanent' });
    expect(checks.find((c) => c.id === 'firewall.saved-ruleset')?.evidence).toMatch(/does not load/);
    expect(checks.find((c) => c.id === 'firewall.fallback-ruleset')).toMatchObject({ status: 'pass' });
  });

  it('the agent takes over: the full table again, the saved file repaired, every boot check passing', async () => {
    const fw = await firewallReconciler(fwHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(fw.changed).toBe(true);
    const r = await firewallBootReconciler(bootHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(r.error).toBeUndefined();
    expect(r.notes.join()).toMatch(/updated .*last-applied\.json/);
    expect(await tcp('192.0.2.1', 443)).toBe('open');
    const checks = await firewallBootAudit(bootHost).run({ config: cfg, nodeName: 'n1' });
    expect(checks.find((c) => c.id === 'firewall.saved-ruleset')).toMatchObject({ status: 'pass' });
    expect(checks.find((c) => c.id === 'firewall.fallback-ruleset')?.evidence).toContain('SSH from 198.51.100.0/24');
  });

  it('both files unusable: the boot script fails loudly (the unit fails) and loads nothing', async () => {
    const f = bootFiles(dir);
    const saved = readFileSync(f.saved, 'utf8');
    const fallback = readFileSync(f.fallback, 'utf8');
    try {
      writeFileSync(f.saved, 'x');
      writeFileSync(f.fallback, 'y');
      const r = await boot();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('neither the last applied ruleset nor the fallback loads');
      const checks = await firewallBootAudit(bootHost).run({ config: cfg, nodeName: 'n1' });
      expect(checks.find((c) => c.id === 'firewall.fallback-ruleset')?.status).toBe('fail');
    } finally {
      writeFileSync(f.saved, saved);
      writeFileSync(f.fallback, fallback);
    }
    expect(existsSync(f.saved)).toBe(true);
  });

  it('bulwark firewall apply saves what it applied; a rollback saves what it restored', async () => {
    const redirect = parseConfig(`cluster: c
nodes:
  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}
  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}
firewall:
  managementNetworks: [198.51.100.0/24]
  httpRedirect: true
`);
    const saved = () => readFileSync(bootFiles(dir).saved, 'utf8');
    // (the test before left no table: put the agent's back first)
    await firewallReconciler(fwHost).reconcile({ config: cfg, nodeName: 'n1', log });
    await firewallBootReconciler(bootHost).reconcile({ config: cfg, nodeName: 'n1', log });
    expect(saved()).not.toContain('in-http-redirect');
    const a = await localApply(redirect, 'n1', fwHost());
    expect(a.applied).toBe(true);
    expect(saved()).toContain('in-http-redirect');
    const rb = await localRollback(redirect, 'n1', fwHost());
    expect(rb.rolledBack).toBe(true);
    expect(saved()).not.toContain('in-http-redirect');
    await fwHost().state.clearHold();
  });

  it('when nft itself fails, the firewall capability reports it and this one only notes it (the saved file stays)', async () => {
    const before = readFileSync(bootFiles(dir).saved, 'utf8');
    // no nft (nor ip) to run, as on a node whose nft was removed
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-such-bin');
    let r: Awaited<ReturnType<ReturnType<typeof firewallBootReconciler>['reconcile']>>;
    try {
      r = await firewallBootReconciler(bootHost).reconcile({ config: cfg, nodeName: 'n1', log });
    } finally {
      process.env.PATH = path;
    }
    expect(r.error).toBeUndefined();
    expect(r.notes.join()).toMatch(/live table unreadable, last-applied kept/);
    expect(readFileSync(bootFiles(dir).saved, 'utf8')).toBe(before);
  });

  it('firewall.enabled false: the agent removes both files, so nothing of ours loads at the next boot', async () => {
    const off = parseConfig(`cluster: c
nodes:
  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}
firewall:
  enabled: false
`);
    const r = await firewallBootReconciler(bootHost).reconcile({ config: off, nodeName: 'n1', log });
    expect(r.changed).toBe(true);
    expect(existsSync(bootFiles(dir).saved) || existsSync(bootFiles(dir).fallback)).toBe(false);
  });
});
