import { z } from 'zod';

/** `firewall:` section of bulwark.yaml. Every field optional; defaults are the secure policy. */
export const firewallSchema = z.strictObject({}).prefault({});
export type FirewallConfig = z.infer<typeof firewallSchema>;
