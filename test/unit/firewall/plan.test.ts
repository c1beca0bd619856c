import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mustCidr, cidrContains } from '../../../src/firewall/cidr.js';
import { egressElements, planFirewall, planTransaction, SET } from '../../../src/firewall/plan.js';
import { firewallSchema } from '../../../src/firewall/schema.js';
import { tableText } from '../../../src/firewall/render-text.js';
import { firewallConfig, firewallFacts } from './arbitraries.js';
import { summarizeAccept } from './promises.js';
import { portRange } from '../../../src/firewall/ports.js';
import type { Json } from '../../../src/firewall/nft-json.js';

const FACTS = {
  self: { name: 'n1', endpoint: '192.0.2.11' },
  peers: [
    { name: 'n2', endpoint: '192.0.2.12' },
    { name: 'n3', endpoint: '192.0.2.13' },
  ],
  meshCidr: '10.77.0.0/16',
  meshPort: 7946,
  resolvers: ['192.0.2.53'],
  aptUid: 42,
};

const inRanges = (p: number, rs: readonly (readonly [number, number])[]) => rs.some(([a, b]) => p >= a && p <= b);

describe('firewall policy defaults', () => {
  it('firewall/default.yaml equals the schema defaults', () => {
    const template = parse(readFileSync(new URL('../../../firewall/default.yaml', import.meta.url), 'utf8')) as unknown;
    expect(firewallSchema.parse(template)).toEqual(firewallSchema.parse(undefined));
    expect(firewallSchema.parse({})).toEqual(firewallSchema.parse(template));
  });

  it('default plan: drop policies, SSH only from management sets, 443 limited per source at 50/s burst 100', () => {
    const plan = planFirewall({}, FACTS);
    expect(plan.chains.map((c) => [c.name, c.policy])).toEqual([
      ['input', 'drop'],
      ['forward', 'drop'],
      ['output', 'drop'],
    ]);
    const text = tableText(plan);
    expect(text).toContain('ip saddr @mgmt4 tcp dport 22 counter accept');
    expect(text).not.toMatch(/^\s*tcp dport 22 [^\n]*accept/m);
    expect(text).toContain('add @https_meter4 { ip saddr limit rate over 50/second burst 100 packets } counter drop');
    expect(text).not.toContain('dport 80 counter accept comment "in-http');
    expect(text).toContain('ip saddr @peers4 udp dport 51820');
    expect(text).toContain('meta iifname "bw0" ip saddr 10.77.0.0/16 tcp dport 7946');
    expect(plan.notes.join('\n')).toMatch(/SSH is closed/);
    const peers = plan.sets.find((s) => s.name === SET.peers4);
    expect(peers?.elem).toEqual(['192.0.2.12', '192.0.2.13']);
  });

  it('the transaction touches only table inet bulwark and never flushes the ruleset', () => {
    const doc = planTransaction(planFirewall({}, FACTS));
    expect(doc.nftables.slice(0, 3)).toEqual([
      { add: { table: { family: 'inet', name: 'bulwark' } } },
      { delete: { table: { family: 'inet', name: 'bulwark' } } },
      { add: { table: { family: 'inet', name: 'bulwark' } } },
    ]);
    expect(JSON.stringify(doc)).not.toContain('flush');
    for (const c of doc.nftables.slice(3)) {
      const obj = Object.values(Object.values(c)[0] as object)[0] as { family: string; table: string };
      expect([obj.family, obj.table]).toEqual(['inet', 'bulwark']);
    }
  });

  it('rejects CIDRs with host bits and unknown keys', () => {
    expect(firewallSchema.safeParse({ managementNetworks: ['10.0.0.1/8'] }).error?.issues[0]?.message).toMatch(/did you mean 10.0.0.0\/8/);
    expect(firewallSchema.safeParse({ sshh: {} }).success).toBe(false);
  });
});

describe('firewall promises hold for generated configs (property)', () => {
  it('accepts no port that is not configured; drops are counted; policies drop', () => {
    fc.assert(
      fc.property(firewallConfig, firewallFacts, (cfgIn, factsIn) => {
        const cfg = firewallSchema.parse(cfgIn);
        const plan = planFirewall(cfgIn, factsIn);
        expect(plan.chains.every((c) => c.policy === 'drop')).toBe(true);
        for (const r of plan.rules) {
          const hasDrop = r.expr.some((e) => typeof e === 'object' && e !== null && 'drop' in e);
          if (hasDrop) expect(r.expr.some((e) => typeof e === 'object' && e !== null && 'counter' in e)).toBe(true);
        }
        const allowed = (proto: string, sourceRestricted: boolean): (readonly [number, number])[] => {
          const r: (readonly [number, number])[] = [[cfg.https.port, cfg.https.port]];
          if (proto === 'tcp' && (cfg.httpRedirect || factsIn.httpRedirect)) r.push([80, 80]);
          if (proto === 'tcp' && (cfg.ssh.fromAnywhere || sourceRestricted)) r.push([cfg.ssh.port, cfg.ssh.port]);
          if (proto === 'udp' && sourceRestricted) r.push([factsIn.wgPort ?? 51820, factsIn.wgPort ?? 51820]);
          if (proto === 'tcp' && factsIn.meshPort !== undefined && factsIn.meshCidr && sourceRestricted) r.push([factsIn.meshPort, factsIn.meshPort]);
          for (const s of cfg.inbound) if (s.proto === proto && (sourceRestricted || s.from.length === 0)) r.push(...s.ports.map(portRange));
          return r;
        };
        for (const r of plan.rules.filter((x) => x.chain === 'input')) {
          const s = summarizeAccept(r);
          if (!s?.ports) continue;
          const restricted = s.hasSaddr;
          for (const proto of s.protos ?? ['tcp', 'udp']) {
            const ok = allowed(proto, restricted);
            for (const [lo, hi] of s.ports) {
              expect(inRanges(lo, ok) && inRanges(hi, ok), `${r.comment}: ${proto} ${lo}-${hi} accepted`).toBe(true);
            }
          }
          if (s.ports.some(([a, b]) => cfg.ssh.port >= a && cfg.ssh.port <= b) && !s.hasSaddr && !cfg.ssh.fromAnywhere) {
            // port 22 accepted from anywhere only when it is also another configured open service
            const open = [
              [cfg.https.port, cfg.https.port],
              ...(cfg.httpRedirect || factsIn.httpRedirect ? [[80, 80]] : []),
              ...cfg.inbound.filter((x) => !x.from.length).flatMap((x) => x.ports.map(portRange)),
            ] as [number, number][];
            expect(inRanges(cfg.ssh.port, open)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('egress elements are disjoint and cover exactly what was allowed', () => {
    const entry = fc.record({
      to: fc.array(fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', '192.0.2.0/24', '192.0.2.128/25', '2001:db8::/32'), { minLength: 1, maxLength: 3 }),
      proto: fc.constantFrom('tcp' as const, 'udp' as const),
      ports: fc.array(
        fc.oneof(
          fc.integer({ min: 1, max: 40 }),
          fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 10 })).map(([a, d]) => `${a}-${a + d}`),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    });
    const probes = ['10.0.0.1', '10.1.0.9', '10.1.2.3', '192.0.2.1', '192.0.2.200', '2001:db8::1', '203.0.113.1'];
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 4 }), (entries) => {
        const parsed = entries.map((e) => ({ to: e.to.map((t) => mustCidr(t)), proto: e.proto, ports: e.ports.map(portRange) }));
        const els = egressElements(parsed);
        for (let i = 0; i < els.length; i++)
          for (let j = i + 1; j < els.length; j++) {
            const a = els[i]!;
            const b = els[j]!;
            const nest = cidrContains(a.cidr, b.cidr) || cidrContains(b.cidr, a.cidr);
            const portsMeet = a.ports[0] <= b.ports[1] && b.ports[0] <= a.ports[1];
            expect(nest && a.proto === b.proto && portsMeet, `overlap ${JSON.stringify([a, b])}`).toBe(false);
          }
        for (const ip of probes)
          for (const proto of ['tcp', 'udp'] as const)
            for (let p = 1; p <= 52; p++) {
              const host = mustCidr(ip);
              const want = parsed.some((e) => e.proto === proto && e.to.some((c) => cidrContains(c, host)) && inRanges(p, e.ports));
              const got = els.some((e) => e.proto === proto && cidrContains(e.cidr, host) && p >= e.ports[0] && p <= e.ports[1]);
              expect(got, `${ip} ${proto} ${p}`).toBe(want);
            }
      }),
      { numRuns: 150 },
    );
  });

  it('CIDR lists in sets are minimal (no element inside another)', () => {
    const plan = planFirewall({ managementNetworks: ['198.51.100.0/24', '198.51.100.7', '198.51.0.0/16', '2001:db8::/32', '2001:db8:1::/48'] }, FACTS);
    expect(plan.sets.find((s) => s.name === SET.mgmt4)?.elem).toEqual([{ prefix: { addr: '198.51.0.0', len: 16 } }]);
    expect(plan.sets.find((s) => s.name === SET.mgmt6)?.elem as Json[]).toEqual([{ prefix: { addr: '2001:db8::', len: 32 } }]);
  });
});
