import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { routerSchema, type RouterConfig, type RouterConfigInput } from '../router/config.js';
import type { RunningRouter } from '../router/index.js';
import { openListener, type OpenListener } from '../router/listeners.js';
import { ROUTER_COMPONENTS_FILE, type RouterComponents } from './plan.js';

/**
 * The router's side of `bulwark app add/remove`: the components file the node writes
 * (/etc/bulwark/router-components.json) merged into the router config at start, and applied to a
 * running router on reload (SIGHUP) by opening the listeners of new components and closing those of
 * removed ones. Every other listener and session stays as it is.
 */
const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
export const routerComponentsSchema = z.strictObject({
  components: z.array(z.strictObject({ name: z.string().regex(NAME), realm: z.string().min(1), role: z.string().regex(NAME) })),
  listeners: z.array(
    z.strictObject({
      type: z.literal('rawsocket'),
      path: z.string().startsWith('/'),
      component: z.string().regex(NAME),
      mode: z.string().regex(/^0?[0-7]{3}$/),
      serializers: z.array(z.enum(['json', 'msgpack', 'cbor'])).min(1),
    }),
  ),
});

export function readRouterComponents(file = ROUTER_COMPONENTS_FILE): RouterComponents {
  if (!existsSync(file)) return { components: [], listeners: [] };
  return routerComponentsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** The router config with the apps' components added (the base config's own entries win). Pure. */
export function mergeComponents(input: RouterConfigInput, comps: RouterComponents): NonNullable<RouterConfigInput> {
  const base = input ?? {};
  const names = new Set((base.components ?? []).map((c) => c.name));
  const paths = new Set((base.listeners ?? []).flatMap((l) => (l.path !== undefined ? [l.path] : [])));
  return {
    ...base,
    components: [...(base.components ?? []), ...comps.components.filter((c) => !names.has(c.name))],
    listeners: [...(base.listeners ?? []), ...comps.listeners.filter((l) => !names.has(l.component) && !paths.has(l.path))],
  };
}

/** Component listeners opened by applyComponents, per running router. */
const applied = new WeakMap<RunningRouter, Map<string, OpenListener>>();

/**
 * Brings a running router's component listeners in line with `comps`: opens what is new, closes what
 * is gone (ending only those components' sessions), leaves the rest untouched. Listeners the router
 * started with (from a merged config) are adopted by path, so a reload after start works too.
 */
export async function applyComponents(running: RunningRouter, base: RouterConfigInput, comps: RouterComponents): Promise<{ opened: string[]; closed: string[] }> {
  const cfg: RouterConfig = routerSchema.parse(mergeComponents(base, comps));
  let open = applied.get(running);
  if (!open) {
    open = new Map();
    const initial = new Set(comps.listeners.map((l) => l.path));
    for (const l of running.listeners) if (initial.has(l.address) || initial.has(l.name)) open.set(l.name, l);
    applied.set(running, open);
  }
  const want = new Map(comps.listeners.map((l) => [l.path, l]));
  const closed: string[] = [];
  for (const [path, l] of [...open]) {
    if (want.has(path)) continue;
    await l.close();
    open.delete(path);
    const i = running.listeners.indexOf(l);
    if (i >= 0) running.listeners.splice(i, 1);
    closed.push(path);
  }
  const opened: string[] = [];
  for (const [path, l] of want) {
    if (open.has(path)) continue;
    const idx = cfg.listeners.findIndex((x) => x.path === path);
    const lc = cfg.listeners[idx];
    if (!lc) continue;
    const ol = await openListener(running.router, cfg, lc, idx, new Map());
    open.set(path, ol);
    running.listeners.push(ol);
    opened.push(l.path);
  }
  return { opened, closed };
}
