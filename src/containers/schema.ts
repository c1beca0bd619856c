import { z } from 'zod';

/** `apps:` section of bulwark.yaml: the app containers (components) of the cluster. */
export const appsSchema = z.array(z.strictObject({ name: z.string() })).default([]);
export type AppsConfig = z.infer<typeof appsSchema>;
