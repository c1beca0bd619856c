import { describe, expect, it } from 'vitest';
import { diffTable, type TableState } from '../../../src/firewall/compare.js';
import type { Json } from '../../../src/firewall/nft-json.js';
import { planFirewall, SET } from '../../../src/firewall/plan.js';

// Live tables as nft lists them back. nftables 1.0 (Debian 12) lists `meta l4proto` values and inet_proto
// set elements by name, nftables 1.1 (Debian 13) by number: both must compare equal to the plan.
const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [{ name: 'n2', endpoint: '192.0.2.12' }], meshCidr: '10.77.0.0/16', meshPort: 7946, resolvers: ['192.0.2.53'] };
const CFG = {
  managementNetworks: ['198.51.100.0/24'],
  egress: {
    allow: [
      { name: 'db', to: ['203.0.113.10'], ports: [5432] },
      { name: 'ntp', to: ['203.0.113.0/28'], proto: 'udp' as const, ports: [123] },
    ],
  },
};
const NUM: Record<string, number> = { tcp: 6, udp: 17 };

/** The plan as nftables 1.1 lists it: protocol names after `meta l4proto`, and in inet_proto elements, as numbers. */
function asNft11(plan: TableState): TableState {
  const live = structuredClone(plan) as TableState;
  const num = (v: Json): Json => (typeof v === 'string' && v in NUM ? NUM[v]! : v);
  const walk = (j: Json): Json => {
    if (j === null || typeof j !== 'object') return j;
    if (Array.isArray(j)) return j.map(walk);
    const o = j as Record<string, Json>;
    const m = o.match as Record<string, Json> | undefined;
    if (m && JSON.stringify(m.left) === '{"meta":{"key":"l4proto"}}') {
      const r = m.right as Json;
      const right = r !== null && typeof r === 'object' && !Array.isArray(r) && Array.isArray(r.set) ? { set: [...r.set.map(num)].reverse() } : num(r);
      return { match: { ...m, right } };
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, walk(v)]));
  };
  for (const r of live.rules) r.expr = r.expr.map(walk);
  for (const s of live.sets) {
    if (Array.isArray(s.type) && s.type[1] === 'inet_proto') {
      s.elem = s.elem?.map((e) => {
        const c = (e as { concat: Json[] }).concat;
        return { concat: [c[0]!, num(c[1]!), c[2]!] };
      });
    }
  }
  return live;
}

describe('diffTable across nftables versions', () => {
  const plan = planFirewall(CFG, FACTS);

  it('the plan uses protocol names where nftables 1.1 lists numbers (what this test is about)', () => {
    const live = asNft11(plan);
    expect(JSON.stringify(live.rules)).not.toBe(JSON.stringify(plan.rules));
    expect(JSON.stringify(live.sets.find((s) => s.name === SET.egress4)?.elem)).toContain('6');
    expect(JSON.stringify(plan.sets.find((s) => s.name === SET.egress4)?.elem)).toContain('"tcp"');
  });

  it('a live table listed with protocol numbers equals the plan (no drift, no reload loop)', () => {
    const d = diffTable(plan, asNft11(plan));
    expect(d.changes).toEqual([]);
    expect(d.equal).toBe(true);
  });

  it('still sees a real protocol difference, in a rule and in a set element', () => {
    const live = asNft11(plan);
    const dns = live.rules.find((r) => r.comment === 'out-dns4')!;
    dns.expr = JSON.parse(JSON.stringify(dns.expr).replace('[17,6]', '[6]')) as Json[];
    const egress = live.sets.find((s) => s.name === SET.egress4)!;
    egress.elem = JSON.parse(JSON.stringify(egress.elem).replace(',17,', ',6,')) as Json[];
    const d = diffTable(plan, live);
    expect(d.equal).toBe(false);
    expect(d.changes.some((c) => c.includes('out-dns4'))).toBe(true);
    expect(d.changes.some((c) => c.startsWith(`set ${SET.egress4}:`))).toBe(true);
  });
});
