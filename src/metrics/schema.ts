import { z } from 'zod';

/** The agent's default metrics port (9100 is node_exporter's; Bulwark stays out of its way). */
export const DEFAULT_METRICS_PORT = 9110;

/**
 * `metrics:` section of bulwark.yaml: the agent's HTTP listener for `/metrics` (Prometheus text: the agent's
 * and the router's) and `/` (a read-only status page), on the node's mesh address and its addresses inside
 * `firewall.managementNetworks`; the firewall accepts the port from those networks and the mesh only.
 */
export const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    port: z.number().int().min(1).max(65535).default(DEFAULT_METRICS_PORT),
    /** Minutes between the agent's own audit runs shown on the status page (0: never). */
    auditEveryMinutes: z
      .number()
      .int()
      .min(0)
      .max(24 * 60)
      .default(15),
  })
  .prefault({});
