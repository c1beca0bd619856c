import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffTable } from '../../../src/firewall/compare.js';
import { applyPlan, NftApplyError, readRuleset, readTable, readTableJson, replaceTable, restoreTableJson } from '../../../src/firewall/nft.js';
import { planFirewall, SET } from '../../../src/firewall/plan.js';
import { run } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from './netns.js';

const NS = 'bwt-fwa';
const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [{ name: 'n2', endpoint: '192.0.2.12' }], meshCidr: '10.77.0.0/16', meshPort: 7946, resolvers: ['192.0.2.53'] };
const CFG = { managementNetworks: ['198.51.100.0/24'], egress: { allow: [{ name: 'db', to: ['203.0.113.10'], ports: [5432] }] } };

const handles = (listing: string | null) =>
  (JSON.parse(listing ?? '{"nftables":[]}') as { nftables: Record<string, { handle?: number; comment?: string }>[] }).nftables
    .filter((o) => 'rule' in o)
    .map((o) => `${o.rule?.comment}#${o.rule?.handle}`);

describe('nft adapter', () => {
  beforeAll(async () => {
    await addNetns(NS);
    await run(['sh', '-c', `printf 'table ip other {\\n chain c {\\n  type filter hook output priority 10; policy accept;\\n }\\n}\\n' | ip netns exec ${NS} nft -f /dev/stdin`]);
    await inNs(NS, 'nft', 'list', 'table', 'ip', 'other');
  });
  afterAll(async () => {
    await delNetns(NS);
  });

  it('applies, then is unchanged on a second apply', async () => {
    const plan = planFirewall(CFG, FACTS);
    expect((await applyPlan(plan, { netns: NS })).mode).toBe('replace');
    expect((await applyPlan(plan, { netns: NS })).mode).toBe('unchanged');
    expect(diffTable(plan, await readTable({ netns: NS })).equal).toBe(true);
  });

  it('updates named sets by element without reloading the rest (rule handles stay)', async () => {
    const before = await readTableJson({ netns: NS });
    const plan = planFirewall({ ...CFG, managementNetworks: ['198.51.100.0/25', '203.0.113.64/26'] }, { ...FACTS, peers: [...FACTS.peers, { name: 'n3', endpoint: '192.0.2.13' }] });
    const r = await applyPlan(plan, { netns: NS });
    expect(r.mode).toBe('elements');
    expect(r.before.elements.map((e) => e.set).sort()).toEqual([SET.mgmt4, SET.peers4].sort());
    const after = await readTableJson({ netns: NS });
    expect(handles(after)).toEqual(handles(before));
    expect(diffTable(plan, await readTable({ netns: NS })).equal).toBe(true);
  });

  it('a failed apply leaves the whole ruleset exactly as it was and names the element nft rejected', async () => {
    const before = await readRuleset({ netns: NS });
    const plan = planFirewall({ ...CFG, httpRedirect: true }, FACTS);
    const mgmt = plan.sets.find((s) => s.name === SET.mgmt4)!;
    mgmt.elem = [...(mgmt.elem ?? []), '300.1.1.1'];
    const err = await replaceTable(plan, { netns: NS }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NftApplyError);
    expect((err as Error).message).toContain('300.1.1.1');
    expect((err as NftApplyError).offending?.set).toBe(SET.mgmt4);
    expect(await readRuleset({ netns: NS })).toBe(before);
  });

  it('repairs a hand edit and a deleted table; table ip other survives every apply', async () => {
    const plan = planFirewall(CFG, FACTS);
    await applyPlan(plan, { netns: NS });
    await inNs(NS, 'nft', 'insert', 'rule', 'inet', 'bulwark', 'input', 'tcp', 'dport', '8080', 'accept');
    const drift = diffTable(plan, await readTable({ netns: NS }));
    expect(drift.equal).toBe(false);
    expect(drift.changes.join('\n')).toMatch(/8080/);
    expect((await applyPlan(plan, { netns: NS })).mode).toBe('replace');
    expect(diffTable(plan, await readTable({ netns: NS })).equal).toBe(true);
    await inNs(NS, 'nft', 'delete', 'table', 'inet', 'bulwark');
    expect(await readTable({ netns: NS })).toBeNull();
    expect(diffTable(plan, null).changes).toEqual(['table inet bulwark missing']);
    expect((await applyPlan(plan, { netns: NS })).mode).toBe('replace');
    expect(diffTable(plan, await readTable({ netns: NS })).equal).toBe(true);
    expect(await inNs(NS, 'nft', 'list', 'table', 'ip', 'other')).toContain('chain c');
  });

  it('restores a saved table listing (rollback) and removes ours when none was saved', async () => {
    const planA = planFirewall(CFG, FACTS);
    await applyPlan(planA, { netns: NS });
    const saved = await readTableJson({ netns: NS });
    const planB = planFirewall({ ...CFG, ssh: { fromAnywhere: true } }, FACTS);
    await applyPlan(planB, { netns: NS });
    expect(diffTable(planA, await readTable({ netns: NS })).equal).toBe(false);
    await restoreTableJson(saved, { netns: NS });
    expect(diffTable(planA, await readTable({ netns: NS })).equal).toBe(true);
    await restoreTableJson(null, { netns: NS });
    expect(await readTable({ netns: NS })).toBeNull();
    expect(await inNs(NS, 'nft', 'list', 'table', 'ip', 'other')).toContain('chain c');
  });
});
