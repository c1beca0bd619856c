import fc from 'fast-check';
import type { FirewallConfigInput } from '../../../src/firewall/schema.js';
import type { FirewallFactsInput } from '../../../src/firewall/facts.js';

/** Generators for firewall configs and node facts (shared by unit and integration property tests). */

const mask = (bytes: number[], len: number) => bytes.map((b, i) => b & ((0xff << (8 - Math.max(0, Math.min(8, len - 8 * i)))) & 0xff));
export const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((b) => b.join('.'));
export const cidr4 = fc.tuple(fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }), fc.integer({ min: 8, max: 32 })).map(([b, len]) => `${mask(b, len).join('.')}${len === 32 ? '' : `/${len}`}`);
const hex = (b: number[]) => {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return w.join(':');
};
export const cidr6 = fc
  .tuple(fc.array(fc.nat(255), { minLength: 16, maxLength: 16 }), fc.integer({ min: 16, max: 128 }))
  .map(([b, len]) => `${hex(mask([0x20, 0x01, 0x0d, 0xb8, ...b.slice(4)], len))}${len === 128 ? '' : `/${len}`}`);
export const anyCidr = fc.oneof({ weight: 3, arbitrary: cidr4 }, { weight: 1, arbitrary: cidr6 });
export const ipv6 = cidr6.map((c) => c.split('/')[0] as string);
const port = fc.integer({ min: 1, max: 65535 });
const portSpec = fc.oneof(
  port,
  fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
);
const name = fc.constantFrom('db', 'bus', 'mirror', 'metrics', 'cache', 'logs', 'api');
const uniqueNamed = <T extends { name: string }>(arb: fc.Arbitrary<T>) => fc.uniqueArray(arb, { selector: (x) => x.name, maxLength: 3 });

export const firewallConfig: fc.Arbitrary<FirewallConfigInput> = fc.record(
  {
    managementNetworks: fc.array(anyCidr, { maxLength: 4 }),
    ssh: fc.record({ port: port, fromAnywhere: fc.boolean() }, { requiredKeys: [] }),
    https: fc.record(
      {
        port: port,
        newConnectionLimit: fc.record({ rate: fc.integer({ min: 1, max: 1000 }), per: fc.constantFrom('second', 'minute', 'hour'), burst: fc.integer({ min: 1, max: 1000 }) }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
    httpRedirect: fc.boolean(),
    icmp: fc.record({ echoRate: fc.integer({ min: 1, max: 100 }), echoBurst: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] }),
    inbound: uniqueNamed(
      fc.record({ name, proto: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.array(portSpec, { minLength: 1, maxLength: 4 }), from: fc.array(anyCidr, { maxLength: 3 }) }),
    ),
    egress: fc.record(
      {
        https: fc.boolean(),
        ntp: fc.boolean(),
        dhcp: fc.boolean(),
        aptHttp: fc.boolean(),
        resolvers: fc.array(fc.oneof(ipv4, ipv6), { maxLength: 3 }),
        allow: uniqueNamed(
          fc.record({ name, to: fc.array(anyCidr, { minLength: 1, maxLength: 4 }), proto: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.array(portSpec, { minLength: 1, maxLength: 4 }) }),
        ),
      },
      { requiredKeys: [] },
    ),
    logDrops: fc.record(
      { enabled: fc.boolean(), rate: fc.integer({ min: 1, max: 100 }), per: fc.constantFrom('second', 'minute', 'hour'), burst: fc.integer({ min: 1, max: 100 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

export const firewallFacts: fc.Arbitrary<FirewallFactsInput> = fc.record({
  self: fc.record({ name: fc.constant('n1'), endpoint: ipv4 }),
  peers: fc.array(fc.record({ name: fc.constantFrom('n2', 'n3', 'n4'), endpoint: fc.oneof(ipv4, ipv6) }), { maxLength: 4 }),
  meshCidr: fc.option(fc.oneof(fc.constant('10.77.0.0/16'), fc.constant('fd77::/64')), { nil: undefined }),
  meshPort: fc.option(port, { nil: undefined }),
  wgPort: port,
  resolvers: fc.array(fc.oneof(ipv4, ipv6, fc.constant('127.0.0.53')), { maxLength: 3 }),
  aptUid: fc.option(fc.integer({ min: 0, max: 65000 }), { nil: undefined }),
  managementNetworks: fc.array(anyCidr, { maxLength: 2 }),
  httpRedirect: fc.boolean(),
});
