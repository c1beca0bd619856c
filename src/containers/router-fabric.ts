import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { routerSchema, type RouterConfig } from '../router/config.js';

/**
 * The router's `fabric:` section on a node: written by the agent (src/fabric) to FABRIC_ROUTER_SECTION on a
 * cluster of two or more nodes, absent on one (the router then runs today's single-node path). Read at start.
 */
export function readFabricSection(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as unknown;
}

/**
 * `base` with the fabric section, checked by the router's schema. A router built without fabric support
 * (its schema rejects the key itself, and nothing else) keeps running alone: `skipped` says so. Pure.
 */
export function withFabric<T extends object = RouterConfig>(base: T, section: unknown, schema: z.ZodType<T> = routerSchema as unknown as z.ZodType<T>): { cfg: T; skipped?: string } {
  const r = schema.safeParse({ ...base, fabric: section });
  if (r.success) return { cfg: r.data };
  const onlyUnknownFabric = r.error.issues.every((i) => i.code === 'unrecognized_keys' && i.path.length === 0 && i.keys.every((k) => k === 'fabric'));
  if (onlyUnknownFabric) return { cfg: base, skipped: 'this router has no fabric support: running as a single-node router' };
  throw new Error(`fabric section: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}
