import { describe, expect, it } from 'vitest';
import { cidrToString, formatIp, ipInCidr, minimizeCidrs, mustCidr, parseCidr, parseIp } from '../../../src/firewall/cidr.js';

describe('cidr', () => {
  it('prints IPv6 the way inet_ntop (and so nft) does', () => {
    const f = (s: string) => {
      const p = parseIp(s)!;
      return formatIp(p.v, p.bytes);
    };
    expect(f('2001:0DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(f('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(f('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(f('::')).toBe('::');
    expect(f('::1')).toBe('::1');
    expect(f('fe80::')).toBe('fe80::');
    expect(f('::ffff:192.0.2.1')).toBe('::ffff:192.0.2.1');
    expect(f('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:3:4:5:6');
    expect(f('2001:db8::0:1:0')).toBe('2001:db8::1:0');
  });
  it('parses, refuses host bits, and tests membership', () => {
    expect(parseCidr('10.0.0.1/8')).toMatchObject({ ok: false });
    expect(parseCidr('10.0.0.256')).toMatchObject({ ok: false });
    expect(parseCidr('010.0.0.1')).toMatchObject({ ok: false });
    expect(cidrToString(mustCidr('192.0.2.7/32'))).toBe('192.0.2.7');
    expect(ipInCidr('198.51.100.9', mustCidr('198.51.100.0/24'))).toBe(true);
    expect(ipInCidr('198.51.101.9', mustCidr('198.51.100.0/24'))).toBe(false);
    expect(ipInCidr('2001:db8::5', mustCidr('2001:db8::/32'))).toBe(true);
    expect(ipInCidr('192.0.2.1', mustCidr('0.0.0.0/0'))).toBe(true);
    expect(minimizeCidrs(['10.0.0.0/8', '10.2.0.0/16', '10.2.0.0/16', '192.0.2.1'].map(mustCidr)).map(cidrToString)).toEqual(['10.0.0.0/8', '192.0.2.1']);
  });
});

describe('minimizeCidrs (property)', () => {
  it('keeps a covering, non-nested, sorted subset', async () => {
    const fc = (await import('fast-check')).default;
    const { anyCidr } = await import('./arbitraries.js');
    const { cidrContains, compareCidr } = await import('../../../src/firewall/cidr.js');
    fc.assert(
      fc.property(fc.array(anyCidr, { maxLength: 30 }), (list) => {
        const all = list.map(mustCidr);
        const kept = minimizeCidrs(all);
        for (const c of all) expect(kept.some((k) => cidrContains(k, c))).toBe(true);
        for (const a of kept) for (const b of kept) if (a !== b) expect(cidrContains(a, b)).toBe(false);
        for (let i = 1; i < kept.length; i++) expect(compareCidr(kept[i - 1]!, kept[i]!)).toBeLessThan(0);
      }),
      { numRuns: 300 },
    );
  });
});
