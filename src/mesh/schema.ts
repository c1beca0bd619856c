import { z } from 'zod';

/** `mesh:` section of bulwark.yaml (WireGuard full mesh). */
export const meshSchema = z.strictObject({}).prefault({});
export type MeshConfig = z.infer<typeof meshSchema>;
