import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '../core/errors.js';
import { NODE_IDENTITY } from '../config/locate.js';
import type { Config, NodeSpec } from '../config/schema.js';

/**
 * Which nodes a command was asked about: `NODE...` and `--node N` (repeatable) are the same thing, `--all`
 * is every node. The parseArgs options every targeting command takes (`TARGET_OPTIONS`).
 */
export interface Targets {
  names: string[];
  all: boolean;
}

export const TARGET_OPTIONS = { node: { type: 'string', multiple: true }, all: { type: 'boolean' } } as const;

/** What a command does when no node is named: every node, or ask for NODE... / --all. */
export type WhenNone = 'all' | 'required';

export type Selection = { local: string } | { nodes: NodeSpec[] };

/**
 * The one node-selection rule. Pure.
 * - names and --all together, or a name the config doesn't have: usage error (exit 2);
 * - on a node (`self` set), no name and no --all, or only its own name: that node, locally;
 * - otherwise the named nodes in config order, --all every node, and none: `whenNone`.
 * `cfg` is read only when nodes are needed (status on a node works without a readable config).
 */
export function selectNodes(cfg: () => Config, t: Targets, self: string | undefined, whenNone: WhenNone): Selection {
  const names = [...new Set(t.names)];
  if (t.all && names.length > 0) throw new UsageError('give node names or --all, not both');
  if (self !== undefined && !t.all && (names.length === 0 || (names.length === 1 && names[0] === self))) return { local: self };
  const config = cfg();
  if (t.all || (names.length === 0 && whenNone === 'all')) return { nodes: config.nodes };
  if (names.length === 0) throw new UsageError('which nodes? give NODE... or --all');
  const unknown = names.filter((n) => !config.nodes.some((x) => x.name === n));
  if (unknown.length) throw new UsageError(`unknown node${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (config has ${config.nodes.map((n) => n.name).join(', ')})`);
  return { nodes: config.nodes.filter((n) => names.includes(n.name)) };
}

/** The named nodes, every node with --all; never this node locally (bootstrap, which always goes over SSH). Pure. */
export function resolveTargets(cfg: Config, names: string[], all: boolean): NodeSpec[] {
  const s = selectNodes(() => cfg, { names, all }, undefined, 'required');
  return 'nodes' in s ? s.nodes : [];
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
