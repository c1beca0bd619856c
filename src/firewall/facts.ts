import { z } from 'zod';
import { ipString, cidrString } from './schema.js';

/**
 * What the planner needs to know about the node and its cluster besides the `firewall:` policy. A plain input so
 * the mesh (peers, CIDR, ports) and bootstrap (management networks) can feed it; see `factsFromConfig`.
 */
export const firewallFactsSchema = z.strictObject({
  self: z.strictObject({ name: z.string(), endpoint: ipString.optional() }),
  /** WireGuard peers: their public endpoints may reach our WireGuard port, and we theirs. */
  peers: z.array(z.strictObject({ name: z.string(), endpoint: ipString })).default([]),
  /** The mesh's inner addresses (e.g. 10.77.0.0/16); absent: no mesh rules. */
  meshCidr: cidrString.optional(),
  meshInterface: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,15}$/)
    .default('bw0'),
  /** The agents' TCP port on the mesh. */
  meshPort: z.number().int().min(1).max(65535).optional(),
  wgPort: z.number().int().min(1).max(65535).default(51820),
  /** The agent's metrics and status page (TCP): from management networks, and on the mesh interface from the mesh. */
  metricsPort: z.number().int().min(1).max(65535).optional(),
  /**
   * The cluster fabric's routes (src/fabric: nats-server's cluster port on the mesh address): accepted on the mesh
   * interface from these peers' mesh addresses only, and dialled to them only. Absent: no fabric, no rule.
   */
  fabricRoutes: z.strictObject({ port: z.number().int().min(1).max(65535), peers: z.array(ipString) }).optional(),
  /** DNS servers found on the node (used when `egress.resolvers` is empty). */
  resolvers: z.array(ipString).default([]),
  /** uid of apt's download user `_apt` (for `egress.aptHttp`); absent: no such user, no rule. */
  aptUid: z.number().int().min(0).optional(),
  /**
   * apt's mirrors (provisioning.packages.mirrors and securityMirror), each host's addresses as resolved on the
   * node when planning (nft matches addresses, not names; the agent re-resolves every pass). Absent: none configured.
   */
  aptMirrors: z.array(z.strictObject({ url: z.string(), port: z.number().int().min(1).max(65535), addresses: z.array(ipString), error: z.string().optional() })).optional(),
  /** The distro's suites come only from the configured mirrors: apt's port-80 rule is narrowed to them. */
  aptMirrorsOnly: z.boolean().default(false),
  /** The router serves the HTTP→HTTPS redirect (a `redirect` listener): open TCP/80. */
  httpRedirect: z.boolean().default(false),
  /** Extra management sources (e.g. the address bootstrap came from), merged with `managementNetworks`. */
  managementNetworks: z.array(cidrString).default([]),
});
export type FirewallFacts = z.infer<typeof firewallFactsSchema>;
export type FirewallFactsInput = z.input<typeof firewallFactsSchema>;
