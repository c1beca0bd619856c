import type { NodeRun } from '../core/cluster.js';
import { EXIT, type CliContext } from '../core/command.js';
import type { Config } from '../config/schema.js';
import { onNode, selectNodes, type Targets, type WhenNone } from './select.js';

/** One node's answer: its exit code and what it reported (absent when its output could not be read). */
export interface NodeOutcome<T> {
  node: string;
  code: number;
  result?: T;
  error?: string;
}

/**
 * The one exit-code rule for a command that ran on several nodes. Pure.
 * A node that answered 0 or 1 (a check failed) counts as such; anything else (unreachable, not
 * bootstrapped, its own usage error, unreadable output) is a failed node. Any failed node: 3; else any
 * failed check: 1; else 0.
 */
export function combineExits(codes: readonly number[]): number {
  if (codes.some((c) => c !== EXIT.OK && c !== EXIT.CHECK_FAILED)) return EXIT.NODE_FAILED;
  return codes.some((c) => c === EXIT.CHECK_FAILED) ? EXIT.CHECK_FAILED : EXIT.OK;
}

/** A node's run, read: `parse` turns its stdout into the result; a node that failed to answer gets an error. Pure. */
export function readRun<T>(r: NodeRun, parse: (stdout: string) => T): NodeOutcome<T> {
  const code = r.code === EXIT.OK || r.code === EXIT.CHECK_FAILED ? r.code : EXIT.NODE_FAILED;
  try {
    return { node: r.node, code, result: parse(r.stdout) };
  } catch {
    return { node: r.node, code: EXIT.NODE_FAILED, error: (r.stderr || r.stdout).trim() || `exit ${r.code}` };
  }
}

export interface ActOptions<T> {
  targets: Targets;
  whenNone: WhenNone;
  /** Loads the cluster config (only when nodes must be resolved or reached). */
  config: () => Config;
  /** Does the work on this node; returns the command's exit code for it. */
  local: (self: string) => Promise<NodeOutcome<T>>;
  /** The same command for a node to run (with --json), and how to read its output. */
  remote: { argv: string[]; parse: (stdout: string) => T; oneAtATime?: boolean };
}

/**
 * "Act locally or on the nodes": the selection rule (select.ts) picks this node or a list of nodes; the work
 * runs here, or as `bulwark ARGV` on each node over SSH (in parallel, or one at a time). Returns every outcome
 * (`reportFailures` prints those that failed to answer) and the exit code: locally the command's own, across
 * nodes `combineExits`.
 */
export async function actOnNodes<T>(ctx: CliContext, o: ActOptions<T>, self: string | undefined = onNode()): Promise<{ outcomes: NodeOutcome<T>[]; code: number }> {
  const sel = selectNodes(o.config, o.targets, self, o.whenNone);
  if ('local' in sel) {
    const r = await o.local(sel.local);
    return { outcomes: [r], code: r.code };
  }
  const { runOnNodes } = await import('./fanout.js');
  const config = o.config();
  const runs: NodeRun[] = [];
  if (o.remote.oneAtATime) for (const n of sel.nodes) runs.push(...(await runOnNodes(ctx, config, [n], o.remote.argv)));
  else runs.push(...(await runOnNodes(ctx, config, sel.nodes, o.remote.argv)));
  const outcomes = runs.map((r) => readRun(r, o.remote.parse));
  return { outcomes, code: combineExits(outcomes.map((x) => x.code)) };
}

/** `NODE: why` on stderr for every node that failed to answer. */
export function reportFailures(ctx: CliContext, outcomes: readonly NodeOutcome<unknown>[]): void {
  for (const x of outcomes) if (x.error !== undefined) ctx.err.write(`${x.node}: ${x.error}\n`);
}
