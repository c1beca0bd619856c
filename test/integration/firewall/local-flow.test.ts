import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { firewallAudit } from '../../../src/firewall/audit.js';
import { diffTable } from '../../../src/firewall/compare.js';
import { FirewallState } from '../../../src/firewall/confirm.js';
import { localApply, localConfirm, localRollback, localStatus, planFor, type FirewallHost } from '../../../src/firewall/local.js';
import { readRuleset, readTable } from '../../../src/firewall/nft.js';
import { firewallReconciler } from '../../../src/firewall/reconciler.js';
import { memoryLogger } from '../router/helpers.js';
import { addNetns, delNetns, inNs } from './netns.js';

const NS = 'bwt-fwl';
const NODES = `cluster: c
nodes:
  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}
  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}
`;
const cfgA = parseConfig(NODES + 'firewall:\n  managementNetworks: [198.51.100.0/24]\n');
const cfgB = parseConfig(NODES + 'firewall:\n  managementNetworks: [198.51.100.0/24]\n  httpRedirect: true\n');
const cfgLocked = parseConfig(NODES + 'firewall:\n  managementNetworks: [203.0.113.0/24]\n');
let dir = '';
const scheduled: { token: string; ms: number }[] = [];
const host = (): FirewallHost => ({
  netns: NS,
  state: new FirewallState(join(dir, 'firewall')),
  probe: async () => ({ resolvers: ['192.0.2.53'], aptUid: 42 }),
  env: { SSH_CONNECTION: '198.51.100.1 50000 198.51.100.11 22' },
  scheduleRollback: async (token, ms) => {
    scheduled.push({ token, ms });
    return 'test';
  },
});
const log = pino({ level: 'silent' });
const equalsPlan = async (cfg: typeof cfgA) => diffTable(await planFor(cfg, 'n1', host()), await readTable({ netns: NS })).equal;

describe('firewall apply / confirm / rollback / reconcile on a node', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bwt-fwl-'));
    await addNetns(NS);
  });
  afterAll(async () => {
    await delNetns(NS);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a ruleset that cuts the SSH path this command uses, unless --force', async () => {
    const before = await readRuleset({ netns: NS });
    const r = await localApply(cfgLocked, 'n1', host());
    expect(r.applied).toBe(false);
    expect(r.error).toMatch(/refused: .*198\.51\.100\.1 to port 22/);
    expect(await readRuleset({ netns: NS })).toBe(before);
    const forced = await localApply(cfgLocked, 'n1', host(), { force: true });
    expect(forced.applied).toBe(true);
    expect(await equalsPlan(cfgLocked)).toBe(true);
  });

  it('rolls back to the previous table when not confirmed in time; the agent then keeps it', async () => {
    expect((await localApply(cfgA, 'n1', host())).applied).toBe(true);
    const r = await localApply(cfgB, 'n1', host(), { confirmWithinMs: 1500 });
    expect(r.pending?.token).toMatch(/^[0-9a-f]{16}$/);
    expect(scheduled.at(-1)).toEqual({ token: r.pending?.token, ms: 1500 });
    expect(await equalsPlan(cfgB)).toBe(true);
    const t0 = Date.now();
    const rb = await localRollback(cfgB, 'n1', host(), { token: r.pending?.token, wait: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(rb.rolledBack).toBe(true);
    expect(await equalsPlan(cfgA)).toBe(true);
    const rec = await firewallReconciler(host).reconcile({ config: cfgB, nodeName: 'n1', log });
    expect(rec.changed).toBe(false);
    expect(rec.notes.join('\n')).toMatch(/held at the previous ruleset/);
    expect(await equalsPlan(cfgA)).toBe(true);
    expect((await localStatus(cfgB, 'n1', host())).held).toMatch(/not confirmed in time/);
  });

  it('keeps the new table once confirmed', async () => {
    const r = await localApply(cfgB, 'n1', host(), { confirmWithinMs: 1000 });
    expect((await localConfirm(host())).confirmed).toBe(true);
    const rb = await localRollback(cfgB, 'n1', host(), { token: r.pending?.token, wait: true });
    expect(rb).toEqual({ rolledBack: false, message: 'no rollback: nothing-pending' });
    expect(await equalsPlan(cfgB)).toBe(true);
  });

  it('the reconciler restores a deleted table and undoes a hand edit; audit sees it', async () => {
    const rec = firewallReconciler(host);
    const mem = memoryLogger();
    const ctx = { config: cfgA, nodeName: 'n1', log: mem.log };
    const repairs = () => mem.lines.filter((l) => l.event === 'firewall.drift.repaired');
    const first = await rec.reconcile(ctx);
    expect(first.error).toBeUndefined();
    expect(await equalsPlan(cfgA)).toBe(true);
    expect((await rec.reconcile(ctx)).changed).toBe(false);
    await inNs(NS, 'nft', 'delete', 'table', 'inet', 'bulwark');
    const audit = firewallAudit(host);
    const failing = await audit.run({ config: cfgA, nodeName: 'n1' });
    expect(failing.find((c) => c.id === 'firewall.table')?.status).toBe('fail');
    const repaired = await rec.reconcile(ctx);
    expect(repaired.changed).toBe(true);
    expect(repaired.drift).toEqual(['table inet bulwark missing']);
    // one security event per repair, at warn, with what was found
    expect(repairs().slice(1)).toEqual([expect.objectContaining({ level: 40, drift: ['table inet bulwark missing'], mode: 'replace' })]);
    expect(await equalsPlan(cfgA)).toBe(true);
    await inNs(NS, 'nft', 'add', 'rule', 'inet', 'bulwark', 'input', 'tcp', 'dport', '8080', 'accept');
    await inNs(NS, 'nft', 'add', 'element', 'inet', 'bulwark', 'mgmt4', '{ 192.0.2.99 }');
    const edited = await rec.reconcile(ctx);
    expect(edited.changed).toBe(true);
    expect(edited.drift.join('\n')).toMatch(/extra rule in input: tcp dport 8080 accept/);
    expect(repairs().length).toBe(3);
    expect(await equalsPlan(cfgA)).toBe(true);
    const passing = await audit.run({ config: cfgA, nodeName: 'n1' });
    expect(passing.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(passing.map((c) => c.id)).toEqual(['firewall.table', 'firewall.matches-plan', 'firewall.input-policy', 'firewall.forward-policy', 'firewall.output-policy', 'firewall.ssh-ban']);
  });
});
