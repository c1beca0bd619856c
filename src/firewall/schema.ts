import { z } from 'zod';
import { parseCidr, parseIp } from './cidr.js';

/** An IPv4/IPv6 address or CIDR with no host bits set (e.g. 198.51.100.0/24, 2001:db8::/32, 192.0.2.7). */
export const cidrString = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});
export const ipString = z.string().refine((s) => parseIp(s) !== null, 'must be an IPv4 or IPv6 address');

const port = z.number().int().min(1).max(65535);
/** A port or an inclusive range "LOW-HIGH". */
export const portSpec = z.union([
  port,
  z
    .string()
    .regex(/^\d{1,5}-\d{1,5}$/, 'must be a port number or a range "LOW-HIGH"')
    .refine((s) => {
      const [a, b] = s.split('-').map(Number) as [number, number];
      return a >= 1 && b <= 65535 && a <= b;
    }, 'range must be LOW-HIGH within 1-65535'),
]);
export type PortSpec = z.infer<typeof portSpec>;

const proto = z.enum(['tcp', 'udp']);
const per = z.enum(['second', 'minute', 'hour']);
const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes');

export const firewallSchema = z
  .strictObject({
    /** Manage `table inet bulwark` at all. When false the agent leaves nft alone (and audit reports fail). */
    enabled: z.boolean().default(true),
    /** Sources allowed to reach SSH. Empty means SSH is closed to new connections (unless ssh.fromAnywhere). */
    managementNetworks: z.array(cidrString).default([]),
    ssh: z
      .strictObject({
        port: port.default(22),
        /** Open SSH to every source. Never the default; say it explicitly if you mean it. */
        fromAnywhere: z.boolean().default(false),
        /**
         * Brute force answered in nftables (what fail2ban would do): a source opening new SSH connections faster than
         * rate/per (after `burst`) is banned from SSH for banSeconds (dynamic sets ssh_ban4/6; see firewall status).
         */
        bruteForce: z
          .strictObject({
            enabled: z.boolean().default(true),
            rate: z.number().int().min(1).max(10_000).default(6),
            per: per.default('minute'),
            burst: z.number().int().min(1).max(10_000).default(6),
            banSeconds: z
              .number()
              .int()
              .min(1)
              .max(7 * 86_400)
              .default(600),
            /** IPv6 sources are metered and banned per prefix of this length: one host usually holds a whole /64. */
            ipv6Prefix: z.number().int().min(32).max(128).default(64),
            /** Management networks are never metered nor banned (Bulwark's own SSH comes from there). */
            exemptManagement: z.boolean().default(true),
          })
          .prefault({}),
      })
      .prefault({}),
    https: z
      .strictObject({
        port: port.default(443),
        /** New TCP connections per source address (dynamic set); over the limit they are dropped and counted. */
        newConnectionLimit: z
          .strictObject({ rate: z.number().int().min(1).max(1_000_000).default(50), per: per.default('second'), burst: z.number().int().min(1).max(1_000_000).default(100) })
          .prefault({}),
      })
      .prefault({}),
    /** Open TCP/80 for the router's HTTP→HTTPS redirect. */
    httpRedirect: z.boolean().default(false),
    icmp: z
      .strictObject({
        /** Echo requests accepted per second (all sources together) and the burst above it. */
        echoRate: z.number().int().min(1).max(100_000).default(10),
        echoBurst: z.number().int().min(1).max(100_000).default(20),
      })
      .prefault({}),
    /** Extra inbound services, each one a rule. `from` empty or absent: any source. */
    inbound: z.array(z.strictObject({ name, proto, ports: z.array(portSpec).min(1), from: z.array(cidrString).default([]) })).default([]),
    egress: z
      .strictObject({
        /** TCP/443 to anywhere (package mirrors over https, ACME, APIs). */
        https: z.boolean().default(true),
        /** UDP/123 to anywhere (time sync). */
        ntp: z.boolean().default(true),
        /** DHCP client requests (UDP 68→67, 546→547): leases are renewed by unicast, which a drop policy would block. */
        dhcp: z.boolean().default(true),
        /**
         * TCP/80 for apt only: packets from sockets owned by apt's download user (_apt) may reach port 80, so the
         * stock http:// Debian/Ubuntu sources keep working (their content is signed); nothing else on the host may.
         */
        aptHttp: z.boolean().default(true),
        /** DNS servers (UDP and TCP 53). Empty: the node's own resolvers (resolv.conf), found when planning. */
        resolvers: z.array(ipString).default([]),
        /** Everything else the node must reach (database, event bus, package mirror): destinations × ports. */
        allow: z.array(z.strictObject({ name, to: z.array(cidrString).min(1), proto: proto.default('tcp'), ports: z.array(portSpec).min(1) })).default([]),
      })
      .prefault({}),
    /** Rate-limited kernel log lines for dropped packets (prefix "bulwark drop in/out/fwd: "). */
    logDrops: z
      .strictObject({ enabled: z.boolean().default(false), rate: z.number().int().min(1).max(10_000).default(5), per: per.default('minute'), burst: z.number().int().min(1).max(10_000).default(10) })
      .prefault({}),
  })
  .prefault({});

export type FirewallConfig = z.infer<typeof firewallSchema>;
export type FirewallConfigInput = z.input<typeof firewallSchema>;
