import { z } from 'zod';

/** nats-server's client port: on 127.0.0.1 only (FABRIC-CONTRACT: the router's url). */
export const NATS_CLIENT_PORT = 4222;

/**
 * `fabric:` section of bulwark.yaml: the host side of the routers' cluster fabric, a nats-server on every node
 * of a cluster of two or more (clients on 127.0.0.1 only, routes over the mesh interface only, mutual TLS).
 * A one-node cluster runs no NATS at all, whatever this says.
 */
export const fabricSchema = z
  .strictObject({
    /** false: no NATS even on a multi-node cluster (the routers stay separate). */
    enabled: z.boolean().default(true),
    /** The nats-server binary (default: Debian's package, which bootstrap installs). */
    natsServer: z
      .string()
      .regex(/^\/[A-Za-z0-9._/+-]+$/, 'must be an absolute path (letters, digits, . _ / + -)')
      .default('/usr/sbin/nats-server'),
    /** The routes' (cluster) port, on the node's mesh address only. */
    routePort: z.number().int().min(1024).max(65535).default(6222),
    /** nats-server's monitoring endpoint on 127.0.0.1 (routez, varz: `bulwark status`); 0: none. */
    monitorPort: z.number().int().min(0).max(65535).default(8222),
    /** JetStream limits (bytes). */
    maxMemoryStore: z
      .number()
      .int()
      .min(1 << 20)
      .default(256 << 20),
    maxFileStore: z
      .number()
      .int()
      .min(1 << 20)
      .default(1 << 30),
    /** Passed to the router (FABRIC-CONTRACT). */
    heartbeatMs: z.number().int().min(50).max(60_000).default(500),
    deadAfterMs: z.number().int().min(200).max(600_000).default(2000),
  })
  .refine((f) => f.deadAfterMs >= 2 * f.heartbeatMs, { message: 'deadAfterMs must be at least twice heartbeatMs', path: ['deadAfterMs'] })
  .refine((f) => f.monitorPort !== NATS_CLIENT_PORT && f.monitorPort !== f.routePort && f.routePort !== NATS_CLIENT_PORT, {
    message: 'routePort, monitorPort and the client port 4222 must differ',
    path: ['routePort'],
  })
  .prefault({});
export type FabricConfig = z.infer<typeof fabricSchema>;
