import type { Config } from '../config/schema.js';
import type { NodeRun } from '../provision/fanout.js';
import { allocateAddresses } from './addresses.js';
import { memberFactsSchema, type MemberFacts } from './runtime.js';

/** Runs `bulwark ARGV` on the named nodes (over SSH from the operator, or over open bootstrap sessions). */
export type NodeRunner = (names: string[], argv: string[]) => Promise<NodeRun[]>;

/**
 * The join protocol: every node reports its public facts (keys made on the node; only public keys
 * travel), then every member receives the full member list. Nodes that can't report (not bootstrapped
 * yet) join later. Throws a clear error when the mesh CIDR is too small.
 */
export async function syncMembers(cfg: Config, run: NodeRunner): Promise<{ members: MemberFacts[]; facts: NodeRun[]; runs: NodeRun[]; changed: string[]; failed: NodeRun[] }> {
  const facts = await run(cfg.nodes.map((n) => n.name), ['mesh', 'facts', '--json']);
  const members: MemberFacts[] = [];
  for (const f of facts) {
    if (f.code !== 0) continue;
    const spec = cfg.nodes.find((n) => n.name === f.node);
    members.push(memberFactsSchema.parse({ ...(JSON.parse(f.stdout) as object), endpoint: spec?.endpoint }));
  }
  allocateAddresses(cfg.mesh.cidr, members.map((m) => m.name), cfg.mesh.addresses);
  const blob = Buffer.from(JSON.stringify(members)).toString('base64');
  const runs = members.length ? await run(members.map((m) => m.name), ['mesh', 'set-members', blob]) : [];
  // Where the list changed, the agent converges now (firewall peer set first, then bw0): `agent reload`
  // returns once its pass is done.
  const changed = runs.filter((r) => r.code === 0 && !r.stdout.includes('members unchanged')).map((r) => r.node);
  const reloads = changed.length ? await run(changed, ['agent', 'reload']) : [];
  return { members, facts, runs, changed, failed: [...runs, ...reloads].filter((r) => r.code !== 0) };
}
