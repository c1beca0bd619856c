import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '../core/command.js';
import { NODE_IDENTITY } from '../config/locate.js';
import type { Config, NodeSpec } from '../config/schema.js';

/** NODE... or --all → the node specs, in config order. Pure. */
export function resolveTargets(cfg: Config, names: string[], all: boolean): NodeSpec[] {
  if (all && names.length > 0) throw new UsageError('give node names or --all, not both');
  if (all) return cfg.nodes;
  if (names.length === 0) throw new UsageError('which nodes? give NODE... or --all');
  const unknown = names.filter((n) => !cfg.nodes.some((x) => x.name === n));
  if (unknown.length) throw new UsageError(`unknown node${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (config has ${cfg.nodes.map((n) => n.name).join(', ')})`);
  return cfg.nodes.filter((n) => names.includes(n.name));
}

/** This node's name when running on a bootstrapped node, else undefined. */
export function onNode(identityFile = NODE_IDENTITY): string | undefined {
  if (!existsSync(identityFile)) return undefined;
  try {
    const j = JSON.parse(readFileSync(identityFile, 'utf8')) as { name?: unknown };
    return typeof j.name === 'string' ? j.name : undefined;
  } catch {
    return undefined;
  }
}
