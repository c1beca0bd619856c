import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { firewallAudit } from '../../../src/firewall/audit.js';
import { FirewallState } from '../../../src/firewall/confirm.js';
import { localApply, localStatus, type FirewallHost } from '../../../src/firewall/local.js';
import { readTable } from '../../../src/firewall/nft.js';
import { firewallReconciler } from '../../../src/firewall/reconciler.js';
import { bansOf } from '../../../src/firewall/ssh-ban.js';
import { runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs, waitFor } from './netns.js';

// Real packets through the planned table: node namespace (ruleset, a TCP service on 22) <-veth-> client namespace
// holding an attacker 192.0.2.66, a bystander 192.0.2.67, a user with an open session 192.0.2.68 and a
// management host 198.51.100.5. SSH is open to everyone here so outside sources reach the meter at all.
const NODE = 'bwt-ban-n';
const CLIENT = 'bwt-ban-c';
const NODE_IP = '192.0.2.11';
const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));
const NODES = 'cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n';
const fw = (extra = '') =>
  parseConfig(`${NODES}firewall:\n  managementNetworks: [198.51.100.0/24]\n  ssh:\n    fromAnywhere: true\n    bruteForce: { rate: 1, per: second, burst: 3, banSeconds: 10 }\n${extra}`);
const children: ChildProcess[] = [];
let dir = '';
const host = (): FirewallHost => ({
  netns: NODE,
  state: new FirewallState(join(dir, 'firewall')),
  probe: async () => ({ resolvers: ['192.0.2.53'], aptUid: 42 }),
  env: { SSH_CONNECTION: '198.51.100.5 50000 198.51.100.11 22' },
  scheduleRollback: async () => 'test',
});

/** `count` new connections to port 22 in a row from `from`: "open" | "timeout" each. */
async function connects(from: string, count: number): Promise<string[]> {
  const r = await runOk([process.execPath, PROBE, 'tcp', NODE_IP, '22', from, '300', String(count)], { netns: CLIENT, timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as string[];
}
const bans = async () => bansOf(await readTable({ netns: NODE }));

// An echo service on 22 that keeps connections open, and a client that holds one session and answers on demand.
const ECHO = `require('net').createServer((c) => { c.on('error', () => {}); c.pipe(c); }).listen(22, () => process.stdout.write('ready\\n'));`;
const HOLD = `const s = require('net').connect({ host: '${NODE_IP}', port: 22, localAddress: '192.0.2.68' });
s.on('error', (e) => process.stdout.write('error ' + e.code + '\\n'));
s.on('data', (b) => process.stdout.write('echo ' + b.toString()));
process.stdin.on('data', (b) => s.write(b));`;
function spawnIn(ns: string, code: string): { child: ChildProcess; lines: string[] } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines: string[] = [];
  child.stdout?.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
  return { child, lines };
}

describe('SSH brute-force ban with real packets', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bwt-ban-'));
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'ban-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'ban-c0', 'netns', CLIENT]);
    for (const a of ['192.0.2.11/24', '198.51.100.11/24']) await inNs(NODE, 'ip', 'addr', 'add', a, 'dev', 'ban-n0');
    for (const a of ['192.0.2.66/24', '192.0.2.67/24', '192.0.2.68/24', '198.51.100.5/24']) await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'ban-c0');
    await inNs(NODE, 'ip', 'link', 'set', 'ban-n0', 'up');
    await inNs(CLIENT, 'ip', 'link', 'set', 'ban-c0', 'up');
    const echo = spawnIn(NODE, ECHO);
    expect(await waitFor(async () => echo.lines.includes('ready'))).toBe(true);
    const r = await localApply(fw(), 'n1', host());
    expect(r.applied).toBe(true);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, CLIENT);
    await rm(dir, { recursive: true, force: true });
  });

  it('a source opening new connections too fast is banned: its further connects fail and the set shows it', async () => {
    const held = spawnIn(CLIENT, HOLD);
    held.child.stdin?.write('before\n');
    expect(await waitFor(async () => held.lines.includes('echo before'))).toBe(true);

    const burst = await connects('192.0.2.66', 6);
    // the burst of 3 passes, then the meter trips and the source is in ssh_ban4
    expect(burst).toEqual(['open', 'open', 'open', 'timeout', 'timeout', 'timeout']);
    expect(await connects('192.0.2.66', 1)).toEqual(['timeout']);
    const b = await bans();
    expect(b.map((x) => x.address)).toEqual(['192.0.2.66']);
    expect(b[0]!.expiresIn).toBeLessThanOrEqual(10);

    // per source: a bystander still connects
    expect(await connects('192.0.2.67', 1)).toEqual(['open']);
    // the same burst from the session holder's address bans it, but its established session goes on
    await connects('192.0.2.68', 6);
    expect((await bans()).map((x) => x.address).sort()).toEqual(['192.0.2.66', '192.0.2.68']);
    held.child.stdin?.write('after\n');
    expect(await waitFor(async () => held.lines.includes('echo after'))).toBe(true);
    expect(await connects('192.0.2.68', 1)).toEqual(['timeout']);
  });

  it('is visible in firewall status and audit, and is not drift', async () => {
    const st = await localStatus(fw(), 'n1', host());
    expect(st.matchesPlan).toBe(true);
    expect(st.sshBans.map((x) => x.address)).toContain('192.0.2.66');
    const audit = await firewallAudit(host).run({ config: fw(), nodeName: 'n1' });
    expect(audit.find((c) => c.id === 'firewall.ssh-ban')?.status).toBe('pass');
    expect(audit.find((c) => c.id === 'firewall.matches-plan')?.status).toBe('pass');
    const rec = await firewallReconciler(host).reconcile({ config: fw(), nodeName: 'n1', log: pino({ level: 'silent' }) });
    expect(rec).toMatchObject({ changed: false, drift: [] });
  });

  it('the management network is exempt: a burst from it is never banned', async () => {
    expect(await connects('198.51.100.5', 12)).toEqual(Array(12).fill('open'));
    expect((await bans()).map((x) => x.address)).not.toContain('198.51.100.5');
  });

  it('a policy change replaces the table but keeps the bans with the time they had left', async () => {
    const before = (await bans()).find((x) => x.address === '192.0.2.66')!;
    const r = await localApply(fw('  httpRedirect: true\n'), 'n1', host());
    expect(r.mode).toBe('replace');
    const after = (await bans()).find((x) => x.address === '192.0.2.66');
    expect(after).toBeDefined();
    expect(after!.expiresIn).toBeLessThanOrEqual(before.expiresIn);
    expect(await connects('192.0.2.66', 1)).toEqual(['timeout']);
  });

  it('the ban expires and the source connects again', async () => {
    expect(await waitFor(async () => (await bans()).length === 0, 14_000, 250)).toBe(true);
    expect(await connects('192.0.2.66', 1)).toEqual(['open']);
  });

  it('without the exemption a management source is banned like any other', async () => {
    const noExempt = fw().firewall;
    noExempt.ssh.bruteForce.exemptManagement = false;
    const cfg = { ...fw(), firewall: noExempt };
    await localApply(cfg, 'n1', host());
    const burst = await connects('198.51.100.5', 6);
    expect(burst.slice(4)).toEqual(['timeout', 'timeout']);
    expect((await bans()).map((x) => x.address)).toContain('198.51.100.5');
  });
});
