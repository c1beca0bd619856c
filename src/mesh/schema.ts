import { z } from 'zod';

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function validCidr(s: string): boolean {
  const m = IPV4_CIDR.exec(s);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o >= 0 && o <= 255) && prefix >= 8 && prefix <= 30;
}

/** `mesh:` section of bulwark.yaml (WireGuard full mesh on bw0). */
export const meshSchema = z
  .strictObject({
    /** Interface name (a parameter mostly for tests; nodes use bw0). */
    interface: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,14}$/, 'must be an interface name (max 15 chars)')
      .default('bw0'),
    /** IPv4 network the mesh addresses come from; one /32 per node. */
    cidr: z.string().refine(validCidr, 'must be an IPv4 CIDR a.b.c.d/N with N between 8 and 30').default('10.77.0.0/24'),
    /** UDP port WireGuard listens on (every node). */
    port: z.number().int().min(1).max(65535).default(51820),
    mtu: z.number().int().min(1280).max(9000).default(1420),
    /** TCP port the agents serve each other on, bound to the node's mesh address only. */
    agentPort: z.number().int().min(1).max(65535).default(7946),
    /** Persistent keepalive in seconds (0 = off). */
    keepalive: z.number().int().min(0).max(3600).default(25),
    /** Hours between pre-shared key rotations of every pair (0 = only on demand). */
    pskRotationHours: z
      .number()
      .min(0)
      .max(24 * 365)
      .default(24),
    /** Seconds a peer has to confirm the new key before a rotation is rolled back. */
    rotationTimeoutSec: z.number().int().min(1).max(600).default(15),
    /** Pinned mesh addresses per node name (else derived from the name, stable). */
    addresses: z.record(z.string(), z.ipv4()).default({}),
  })
  .prefault({});
export type MeshConfig = z.infer<typeof meshSchema>;
