import { describe, expect, it } from 'vitest';
import { diffTable, type TableState } from '../../../src/firewall/compare.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { tableText } from '../../../src/firewall/render-text.js';
import { BAN_SET, bansOf, carryBans, ipv6Mask } from '../../../src/firewall/ssh-ban.js';

const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [], resolvers: ['192.0.2.53'] };
const CFG = { managementNetworks: ['198.51.100.0/24'] };
const state = (p: ReturnType<typeof planFirewall>): TableState => JSON.parse(JSON.stringify({ sets: p.sets, chains: p.chains, rules: p.rules })) as TableState;

describe('SSH brute-force ban (plan)', () => {
  it('default: v4 and v6 meters over 6/minute burst 6 ban for 10 min; management networks exempt', () => {
    const plan = planFirewall(CFG, FACTS);
    const text = tableText(plan);
    expect(text).toContain('ip saddr @ssh_ban4 tcp dport 22 ip saddr != @mgmt4 counter drop comment "in-ssh-banned4"');
    // IPv6 by /64: one host usually holds a whole /64
    expect(text).toContain('ip6 saddr & ffff:ffff:ffff:ffff:: @ssh_ban6 tcp dport 22 ip6 saddr != @mgmt6 counter drop comment "in-ssh-banned6"');
    expect(text).toContain(
      'tcp dport 22 ct state new ip saddr != @mgmt4 add @ssh_meter4 { ip saddr limit rate over 6/minute burst 6 packets } add @ssh_ban4 { ip saddr } counter drop comment "in-ssh-limit4"',
    );
    expect(text).toContain('ip6 saddr != @mgmt6 add @ssh_meter6 { ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over 6/minute burst 6 packets } add @ssh_ban6 { ip6 saddr & ffff:ffff:ffff:ffff:: }');
    expect(plan.sets.find((s) => s.name === BAN_SET.ban4)).toMatchObject({ type: 'ipv4_addr', flags: ['timeout'], timeout: 600 });
    expect(plan.sets.find((s) => s.name === BAN_SET.meter6)).toMatchObject({ type: 'ipv6_addr', flags: ['timeout'], timeout: 60 });
  });

  it('sits after established (a ban never cuts a session) and before the SSH accept rules', () => {
    const ids = planFirewall(CFG, FACTS)
      .rules.filter((r) => r.chain === 'input')
      .map((r) => r.comment);
    const at = (c: string) => ids.indexOf(c);
    expect(at('in-established')).toBeLessThan(at('in-ssh-banned4'));
    expect(at('in-ssh-banned4')).toBeLessThan(at('in-ssh-limit4'));
    expect(at('in-ssh-limit6')).toBeLessThan(at('in-ssh4'));
    const any = planFirewall({ ssh: { fromAnywhere: true } }, FACTS).rules.map((r) => r.comment);
    expect(any.indexOf('in-ssh-limit6')).toBeLessThan(any.indexOf('in-ssh-any'));
  });

  it('IPv6 masks by prefix length as nft prints them', () => {
    expect([128, 64, 56, 48, 33].map(ipv6Mask)).toEqual(['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff::', 'ffff:ffff:ffff:ff00::', 'ffff:ffff:ffff::', 'ffff:ffff:8000::']);
    const full = tableText(planFirewall({ ...CFG, ssh: { bruteForce: { ipv6Prefix: 128 } } }, FACTS));
    expect(full).toContain('add @ssh_ban6 { ip6 saddr }');
  });

  it('configurable: rate, ban time, port, no exemption; disabled leaves no trace', () => {
    const text = tableText(planFirewall({ ...CFG, ssh: { port: 2222, bruteForce: { rate: 3, per: 'hour', burst: 2, banSeconds: 30, exemptManagement: false } } }, FACTS));
    expect(text).toContain('tcp dport 2222 ct state new add @ssh_meter4 { ip saddr limit rate over 3/hour burst 2 packets } add @ssh_ban4 { ip saddr } counter drop');
    expect(text).toMatch(/set ssh_ban4 \{[^}]*timeout 30s/);
    expect(text).toMatch(/set ssh_meter4 \{[^}]*timeout 3600s/);
    expect(text).not.toContain('!= @mgmt4');
    expect(text).toContain('ip saddr @ssh_ban4 tcp dport 2222 counter drop comment "in-ssh-banned4"');
    const off = tableText(planFirewall({ ...CFG, ssh: { bruteForce: { enabled: false } } }, FACTS));
    expect(off).not.toMatch(/ssh_ban|ssh_meter/);
  });

  it('banned addresses and meter entries in the live table are state, not drift', () => {
    const plan = planFirewall(CFG, FACTS);
    const live = state(plan);
    const ban = live.sets.find((s) => s.name === BAN_SET.ban4)!;
    ban.elem = [{ elem: { val: '192.0.2.66', expires: 512 } }];
    live.sets.find((s) => s.name === BAN_SET.meter6)!.elem = [{ elem: { val: '2001:db8::66', expires: 12 } }];
    expect(diffTable(plan, live)).toMatchObject({ equal: true, changes: [] });
    // but a missing ban rule is drift
    const cut = state(plan);
    cut.rules = cut.rules.filter((r) => r.comment !== 'in-ssh-limit4');
    expect(diffTable(plan, cut).equal).toBe(false);
  });

  it('lists bans with the seconds left and carries them into a replaced table', () => {
    const plan = planFirewall(CFG, FACTS);
    const live = state(plan);
    live.sets.find((s) => s.name === BAN_SET.ban4)!.elem = [{ elem: { val: '192.0.2.66', expires: 512 } }, { elem: { val: '192.0.2.67', timeout: 30, expires: 3 } }];
    live.sets.find((s) => s.name === BAN_SET.ban6)!.elem = [{ elem: { val: '2001:db8::66', expires: 100 } }];
    expect(bansOf(live)).toEqual([
      { address: '192.0.2.66', expiresIn: 512 },
      { address: '2001:db8::66', expiresIn: 100 },
      { address: '192.0.2.67', expiresIn: 3 },
    ]);
    expect(bansOf(null)).toEqual([]);
    expect(carryBans(plan.sets, live)).toEqual([
      { add: { element: { family: 'inet', table: 'bulwark', name: 'ssh_ban4', elem: [{ elem: { val: '192.0.2.66', timeout: 512 } }, { elem: { val: '192.0.2.67', timeout: 3 } }] } } },
      { add: { element: { family: 'inet', table: 'bulwark', name: 'ssh_ban6', elem: [{ elem: { val: '2001:db8::66', timeout: 100 } }] } } },
    ]);
    // no ban sets in the new plan: nothing carried
    expect(carryBans(planFirewall({ ...CFG, ssh: { bruteForce: { enabled: false } } }, FACTS).sets, live)).toEqual([]);
  });
});
