import { z } from 'zod';
import { firewallSchema } from '../firewall/schema.js';
import { hardeningSchema } from '../hardening/schema.js';
import { meshSchema } from '../mesh/schema.js';
import { routerSchema } from '../router/config.js';
import { appsSchema } from '../containers/schema.js';
import { acmeSchema, checkAcme } from '../certs/schema.js';
import { metricsSchema } from '../metrics/schema.js';
import { loginPolicy, sshServerSchema } from '../sshd/schema.js';
import { packagesSchema, updatesSchema } from '../updates/schema.js';
import { fabricSchema } from '../fabric/schema.js';

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** user@host[:port] or host[:port]; IPv6 hosts in brackets. */
const SSH_TARGET = /^(?:([a-z_][a-z0-9_-]*)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

export const nodeSchema = z.strictObject({
  name: z.string().regex(NAME, 'must be lower-case letters, digits and dashes, starting with a letter (max 31)'),
  ssh: z.string().regex(SSH_TARGET, 'must be [user@]host[:port]'),
  /** Public address of the node: where 443 is served and WireGuard peers reach it. */
  endpoint: z.union([z.ipv4(), z.ipv6()], { error: (iss) => (iss.input === undefined ? 'is required' : 'must be an IPv4 or IPv6 address') }),
  /** How packages reach this node: from its own apt sources, or as a bundle the CLI uploads. */
  packages: z.enum(['apt', 'bundle']).optional(),
  /** Private key file for SSH (else ssh.identityFile). */
  identityFile: z.string().optional(),
});
export type NodeSpec = z.infer<typeof nodeSchema>;

export const sshSchema = z
  .strictObject({
    identityFile: z.string().default('~/.ssh/id_ed25519'),
    /** Seconds to wait for a node to answer. */
    connectTimeout: z.number().int().min(1).max(300).default(10),
    /** The nodes' own sshd (the drop-in Bulwark keeps): src/sshd. */
    server: sshServerSchema,
  })
  .prefault({});

export const provisioningSchema = z
  .strictObject({
    /**
     * Default package source for nodes that don't say: "apt" (node's mirror) or "bundle" (air-gapped), or
     * { mode, mirrors, securityMirror, components, signedBy } (src/updates/schema.ts).
     */
    packages: packagesSchema,
    /** Minimum free disk on / in MiB that preflight demands. */
    minFreeDiskMiB: z.number().int().min(64).default(1024),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    cluster: z.string().regex(NAME, 'must be lower-case letters, digits and dashes, starting with a letter'),
    nodes: z.array(nodeSchema).min(1, 'at least one node is required'),
    ssh: sshSchema,
    provisioning: provisioningSchema,
    firewall: firewallSchema,
    hardening: hardeningSchema,
    mesh: meshSchema,
    router: routerSchema,
    apps: appsSchema,
    acme: acmeSchema.optional(),
    metrics: metricsSchema,
    updates: updatesSchema,
    fabric: fabricSchema,
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    const seenEndpoint = new Map<string, number>();
    cfg.nodes.forEach((n, i) => {
      const prev = seen.get(n.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], message: `duplicate node name "${n.name}" (also nodes.${prev})` });
      seen.set(n.name, i);
      const prevE = seenEndpoint.get(n.endpoint);
      if (prevE !== undefined) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'endpoint'], message: `endpoint ${n.endpoint} is also used by nodes.${prevE} (${cfg.nodes[prevE]?.name})` });
      seenEndpoint.set(n.endpoint, i);
    });
    if (cfg.ssh.server.enabled) {
      const { users, rootLogin } = loginPolicy(cfg.ssh.server);
      cfg.nodes.forEach((n, i) => {
        const m = SSH_TARGET.exec(n.ssh);
        const u = m?.[1] ?? 'root';
        if (u === 'root' && rootLogin === 'no')
          ctx.addIssue({
            code: 'custom',
            path: ['nodes', i, 'ssh'],
            message: `connects as root, but ssh.server.adminUser (${cfg.ssh.server.adminUser}) turns root login off: use ${cfg.ssh.server.adminUser}@…`,
          });
        else if (!users.includes(u))
          ctx.addIssue({ code: 'custom', path: ['nodes', i, 'ssh'], message: `connects as ${u}, whom sshd would refuse: add it to ssh.server.allowUsers (allowed: ${users.join(', ')})` });
      });
    }
    checkAcme(
      cfg.acme,
      cfg.nodes.map((n) => n.name),
      cfg.router.listeners,
      ctx,
    );
    if (cfg.metrics.enabled) {
      const taken: [number, string][] = [
        [cfg.firewall.https.port, 'firewall.https.port'],
        [cfg.firewall.ssh.port, 'firewall.ssh.port'],
        [cfg.mesh.agentPort, 'mesh.agentPort'],
        [80, 'the HTTP redirect (80)'],
      ];
      const hit = taken.find(([p]) => p === cfg.metrics.port);
      if (hit) ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: `${cfg.metrics.port} is also ${hit[1]}` });
    }
  });

export type Config = z.infer<typeof configSchema>;

export function parseSshTarget(target: string): { user: string; host: string; port: number } {
  const m = SSH_TARGET.exec(target);
  if (!m) throw new Error(`bad ssh target ${target}`);
  const host = (m[2] ?? '').replace(/^\[|\]$/g, '');
  return { user: m[1] ?? 'root', host, port: m[3] ? Number(m[3]) : 22 };
}
