import type { Config } from '../config/schema.js';
import type { NodeRun, NodeRunner } from '../core/cluster.js';
import { allocateAddresses } from './addresses.js';
import { memberFactsSchema, type MemberFacts } from './members.js';
import { NodeError } from '../core/errors.js';

/** A member sync that would drop a node others still mesh with, or a join of a node that can't report. */
export class MemberSyncError extends NodeError {
  override name = 'MemberSyncError';
}

/**
 * The join protocol: every configured node reports its public facts (keys made on the node; only public
 * keys travel) and the members it already knows; then every reporting node receives the full member list.
 * Nodes never bootstrapped (no bulwark on them) simply join later. A node that can't report but is a
 * member somewhere stops the sync, leaving every member list as it was, as does a `target` that can't
 * report. Where a list changed, that node's agent converges now (`agent reload` returns after its pass).
 * Throws a clear error when the mesh CIDR is too small.
 */
export async function syncMembers(cfg: Config, run: NodeRunner, target?: string): Promise<{ members: MemberFacts[]; facts: NodeRun[]; runs: NodeRun[]; changed: string[]; failed: NodeRun[] }> {
  const facts = await run(
    cfg.nodes.map((n) => n.name),
    ['mesh', 'facts', '--json'],
  );
  const why = (r: NodeRun) => (r.stderr || r.stdout).trim() || `exit ${r.code}`;
  const t = target ? facts.find((f) => f.node === target) : undefined;
  if (t && t.code !== 0) throw new MemberSyncError(`${target} has not been bootstrapped or cannot be reached: ${why(t)}`);
  const members: MemberFacts[] = [];
  const known = new Set<string>();
  for (const f of facts) {
    if (f.code !== 0) continue;
    const spec = cfg.nodes.find((n) => n.name === f.node);
    const { knownMembers, ...pub } = JSON.parse(f.stdout) as { knownMembers?: string[] };
    for (const k of knownMembers ?? []) known.add(k);
    members.push(memberFactsSchema.parse({ ...pub, endpoint: spec?.endpoint }));
  }
  const lost = facts.filter((f) => f.code !== 0 && known.has(f.node));
  if (lost.length) {
    throw new MemberSyncError(
      `${lost.map((f) => `${f.node} (${why(f)})`).join(', ')}: a mesh member that cannot report now; member lists left unchanged (bring it back, or \`bulwark mesh remove\` it)`,
    );
  }
  allocateAddresses(
    cfg.mesh.cidr,
    members.map((m) => m.name),
    cfg.mesh.addresses,
  );
  const blob = Buffer.from(JSON.stringify(members)).toString('base64');
  const runs = members.length
    ? await run(
        members.map((m) => m.name),
        ['mesh', 'set-members', blob],
      )
    : [];
  const changed = runs.filter((r) => r.code === 0 && !r.stdout.includes('members unchanged')).map((r) => r.node);
  const reloads = changed.length ? await run(changed, ['agent', 'reload']) : [];
  return { members, facts, runs, changed, failed: [...runs, ...reloads].filter((r) => r.code !== 0) };
}
