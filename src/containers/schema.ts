import { z } from 'zod';

/** An app (component) name: also the systemd instance name, the authid and the socket directory name. */
export const APP_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const appNameSchema = z.string().regex(APP_NAME, 'must be lower-case letters, digits and dashes, starting with a letter (max 31)');

/** podman/docker memory sizes: 64m, 1g, 512k (bytes without a unit are refused: too easy to get wrong). */
export const memorySchema = z.string().regex(/^[1-9][0-9]*[kmg]$/, 'must be a size like 256m or 1g');

const limitsSchema = z
  .strictObject({
    memory: memorySchema.default('256m'),
    /** CPU share as a number of CPUs (0.5 = half a core). */
    cpus: z.number().positive().max(64).default(0.5),
    pids: z.number().int().min(8).max(32768).default(128),
  })
  .prefault({});

/**
 * `apps:` section of bulwark.yaml: how app containers run on every node. The apps themselves are added
 * with `bulwark app add` and live in each node's state (systemd units + /var/lib/bulwark/apps/).
 */
export const appsSchema = z
  .strictObject({
    /** Container engine for app containers (the router always runs under podman). */
    runtime: z.enum(['podman', 'docker']).default('podman'),
    /** uid and gid of the router container: the group that owns every component socket directory. */
    routerUid: z.number().int().min(1000).max(65533).default(60500),
    /** App containers get uids uidBase, uidBase+1, ... (one per app; never shared, never root). */
    uidBase: z.number().int().min(1000).max(65000).default(60501),
    maxApps: z.number().int().min(1).max(4096).default(256),
    realm: z.string().min(1).default('realm1'),
    role: z.string().min(1).default('backend'),
    limits: limitsSchema,
  })
  .prefault({})
  .superRefine((a, ctx) => {
    if (a.routerUid >= a.uidBase && a.routerUid < a.uidBase + a.maxApps)
      ctx.addIssue({ code: 'custom', path: ['routerUid'], message: `collides with app uids ${a.uidBase}..${a.uidBase + a.maxApps - 1}` });
    if (a.uidBase + a.maxApps > 65534) ctx.addIssue({ code: 'custom', path: ['maxApps'], message: 'uidBase + maxApps must stay below 65534' });
  });
export type AppsConfig = z.infer<typeof appsSchema>;

/** One app as recorded on a node (/var/lib/bulwark/apps/NAME.json), validated when read back. */
export const appSpecSchema = z.strictObject({
  name: appNameSchema,
  image: z.string().min(1),
  runtime: z.enum(['podman', 'docker']),
  uid: z.number().int().min(1000).max(65533),
  realm: z.string().min(1),
  role: z.string().min(1),
  memory: memorySchema,
  cpus: z.number().positive(),
  pids: z.number().int().positive(),
});
export type AppSpec = z.infer<typeof appSpecSchema>;
