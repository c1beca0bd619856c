import type { Config } from '../config/schema.js';
import type { NodeRun } from './fanout.js';
import type { ClusterStep } from './hooks.js';
import { shQuote, type NodeSession } from './ssh.js';

/**
 * After every node is bootstrapped: join them into the WireGuard mesh (each node's keys are made on it;
 * only public facts travel). Where a node's member list changed, its agent converges right away
 * instead of at its next timer tick. A re-run on a converged cluster changes nothing.
 */
export const meshStep: ClusterStep = {
  name: 'mesh',
  async run(cfg: Config, sessions: Map<string, NodeSession>, say) {
    const { syncMembers } = await import('../mesh/join.js');
    const runner = (names: string[], argv: string[]): Promise<NodeRun[]> =>
      Promise.all(
        names.map(async (name): Promise<NodeRun> => {
          const s = sessions.get(name);
          if (!s) return { node: name, code: 255, stdout: '', stderr: `${name} was not bootstrapped in this run` };
          return { node: name, ...(await s.exec(['/usr/local/sbin/bulwark', ...argv].map(shQuote).join(' '))) };
        }),
      );
    const { facts, changed, failed } = await syncMembers(cfg, runner);
    const bad = [...facts.filter((f) => f.code !== 0 && sessions.has(f.node)), ...failed];
    if (bad.length) throw new Error(`mesh: ${bad.map((r) => `${r.node}: ${(r.stderr || r.stdout).trim()}`).join('; ')}`);
    for (const name of changed) say(name, 'mesh: new member list, agent converged');
    return { changed: changed.length > 0, detail: changed.length ? `member list updated on ${changed.join(', ')}` : 'no changes' };
  },
};
