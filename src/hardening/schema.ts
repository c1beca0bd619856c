import { z } from 'zod';

/** `hardening:` section of bulwark.yaml (dump and sysctl hardening); defaults are the secure policy. */
export const hardeningSchema = z.strictObject({}).prefault({});
export type HardeningConfig = z.infer<typeof hardeningSchema>;
