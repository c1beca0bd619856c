import type { Config } from '../config/schema.js';
import type { ClusterStep } from '../core/cluster.js';

/**
 * After every node is bootstrapped: join them into the WireGuard mesh (each node's keys are made on it;
 * only public facts travel). Every configured node takes part, including members not bootstrapped in
 * this run, so bootstrapping a subset never shrinks the mesh. Where a node's member list changed, its
 * agent converges right away. A re-run on a converged cluster changes nothing.
 */
export const meshStep: ClusterStep<Config> = {
  name: 'mesh',
  async run(cfg, runner, say) {
    const { syncMembers } = await import('./join.js');
    const { changed, failed } = await syncMembers(cfg, runner);
    if (failed.length) throw new Error(failed.map((r) => `${r.node}: ${(r.stderr || r.stdout).trim()}`).join('; '));
    for (const name of changed) say(name, 'mesh: new member list, agent converged');
    return { changed: changed.length > 0, detail: changed.length ? `member list updated on ${changed.join(', ')}` : 'no changes' };
  },
};
