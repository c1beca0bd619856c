import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { aptMirrorTargets, factsFromConfig, resolveMirrors } from '../../../src/firewall/node-facts.js';
import { planFirewall, SET } from '../../../src/firewall/plan.js';
import { tableText } from '../../../src/firewall/render-text.js';

const BASE = `cluster: lab
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
firewall: { managementNetworks: [198.51.100.0/24] }
`;
const PROBE = { resolvers: ['192.0.2.53'], aptUid: 42 };

const withMirrors = (packages: string) => parseConfig(`${BASE}provisioning:\n  packages: ${packages}\n`);
const rule = (plan: ReturnType<typeof planFirewall>, c: string) => plan.rules.find((r) => r.comment === c);

describe('firewall egress: apt mirrors', () => {
  it('no mirrors configured: apt keeps its port-80 rule to anywhere and there is no mirror set', () => {
    const cfg = withMirrors('apt');
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', PROBE));
    expect(rule(plan, 'out-apt-http')).toBeDefined();
    expect(plan.sets.some((s) => s.name === SET.aptMirrors4)).toBe(false);
    expect(plan.rules.some((r) => r.comment?.startsWith('out-apt-mirrors'))).toBe(false);
  });

  it("mirrors configured: exactly the mirrors (address . port) for apt's user, and no port 80 anywhere else", async () => {
    const cfg = withMirrors('{ mirrors: ["http://mirror.example.org/debian", "http://192.0.2.1:8080/debian"], securityMirror: "https://sec.example.org/debian-security" }');
    expect(aptMirrorTargets(cfg)).toEqual([
      { url: 'http://mirror.example.org/debian', host: 'mirror.example.org', port: 80 },
      { url: 'http://192.0.2.1:8080/debian', host: '192.0.2.1', port: 8080 },
      { url: 'https://sec.example.org/debian-security', host: 'sec.example.org', port: 443 },
    ]);
    const dns: Record<string, string[]> = { 'mirror.example.org': ['203.0.113.10', '2001:db8::10'], 'sec.example.org': ['203.0.113.20'] };
    const asked: string[] = [];
    const mirrorAddresses = await resolveMirrors(
      aptMirrorTargets(cfg).map((t) => t.host),
      async (h) => {
        asked.push(h);
        return dns[h] ?? [];
      },
    );
    expect(asked.sort()).toEqual(['mirror.example.org', 'sec.example.org']); // an address is not looked up
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', { ...PROBE, mirrorAddresses }));
    expect(rule(plan, 'out-apt-http')).toBeUndefined();
    expect(plan.notes.join('\n')).toContain('port 80 for apt only to the configured mirrors');
    const s4 = plan.sets.find((s) => s.name === SET.aptMirrors4);
    const s6 = plan.sets.find((s) => s.name === SET.aptMirrors6);
    expect(s4?.elem).toEqual(expect.arrayContaining([{ concat: ['203.0.113.10', 80] }, { concat: ['192.0.2.1', 8080] }, { concat: ['203.0.113.20', 443] }]));
    expect(s4?.elem).toHaveLength(3);
    expect(s6?.elem).toEqual([{ concat: ['2001:db8::10', 80] }]);
    const text = tableText(plan);
    expect(text).toMatch(/meta skuid 42 ip daddr \. tcp dport @apt_mirrors4 .*accept/);
    expect(text).toMatch(/meta skuid 42 ip6 daddr \. tcp dport @apt_mirrors6 .*accept/);
  });

  it('a mirror whose name does not resolve is left out, with a note saying apt cannot reach it', async () => {
    const cfg = withMirrors('{ mirrors: ["http://gone.example.org/debian"], securityMirror: "http://192.0.2.1/debian-security" }');
    const mirrorAddresses = await resolveMirrors(
      ['gone.example.org', '192.0.2.1'],
      async () => {
        throw new Error('ENOTFOUND');
      },
      new Map(),
    );
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', { ...PROBE, mirrorAddresses }));
    expect(plan.notes.join('\n')).toContain('apt mirror http://gone.example.org/debian: no address (ENOTFOUND), so apt cannot reach it');
    expect(plan.sets.find((s) => s.name === SET.aptMirrors4)?.elem).toEqual([{ concat: ['192.0.2.1', 80] }]);
  });

  it("only a security mirror: the node's own sources keep apt's port 80, the security mirror is let through too", () => {
    const cfg = withMirrors('{ securityMirror: "http://192.0.2.1:81/debian-security" }');
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', { ...PROBE, mirrorAddresses: { '192.0.2.1': { addresses: ['192.0.2.1'] } } }));
    expect(rule(plan, 'out-apt-http')).toBeDefined();
    expect(plan.sets.find((s) => s.name === SET.aptMirrors4)?.elem).toEqual([{ concat: ['192.0.2.1', 81] }]);
  });

  it('two mirrors on one address and port make one element (nft refuses duplicates)', () => {
    const cfg = withMirrors('{ mirrors: ["http://192.0.2.1/debian", "http://192.0.2.1/other"], securityMirror: "http://192.0.2.1/debian-security" }');
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', { ...PROBE, mirrorAddresses: { '192.0.2.1': { addresses: ['192.0.2.1'] } } }));
    expect(plan.sets.find((s) => s.name === SET.aptMirrors4)?.elem).toEqual([{ concat: ['192.0.2.1', 80] }]);
  });

  it('a lookup that fails after one that worked keeps the last addresses, and says so', async () => {
    const cache = new Map<string, string[]>();
    let up = true;
    const resolve = async () => {
      if (!up) throw new Error('EAI_AGAIN');
      return ['203.0.113.10'];
    };
    expect(await resolveMirrors(['m.example.org'], resolve, cache)).toEqual({ 'm.example.org': { addresses: ['203.0.113.10'] } });
    up = false;
    const r = await resolveMirrors(['m.example.org'], resolve, cache);
    expect(r).toEqual({ 'm.example.org': { addresses: ['203.0.113.10'], error: 'EAI_AGAIN; kept the last addresses' } });
    const cfg = withMirrors('{ mirrors: ["http://m.example.org/debian"], securityMirror: "http://m.example.org/debian-security" }');
    const plan = planFirewall(cfg.firewall, factsFromConfig(cfg, 'n1', { ...PROBE, mirrorAddresses: r }));
    expect(plan.sets.find((s) => s.name === SET.aptMirrors4)?.elem).toEqual([{ concat: ['203.0.113.10', 80] }]);
    expect(plan.notes).toContain('apt mirror http://m.example.org/debian: EAI_AGAIN; kept the last addresses');
  });
});
