import { z } from 'zod';

/** `router:` section of bulwark.yaml (and the file `bulwark router --config` reads). */
export const routerSchema = z.strictObject({}).prefault({});
export type RouterConfig = z.infer<typeof routerSchema>;
