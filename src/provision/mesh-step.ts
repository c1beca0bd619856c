import type { Config } from '../config/schema.js';
import { runBulwark, type NodeRun } from './fanout.js';
import type { ClusterStep } from './hooks.js';
import type { NodeSession } from './ssh.js';

/**
 * After every node is bootstrapped: join them into the WireGuard mesh (each node's keys are made on it;
 * only public facts travel). Every configured node takes part, including members not bootstrapped in
 * this run, so bootstrapping a subset never shrinks the mesh. Where a node's member list changed, its
 * agent converges right away. A re-run on a converged cluster changes nothing.
 */
export const meshStep: ClusterStep = {
  name: 'mesh',
  async run(cfg: Config, sessions: Map<string, NodeSession>, say, connect) {
    const { syncMembers } = await import('../mesh/join.js');
    const opened = new Map<string, NodeSession>();
    const session = async (name: string): Promise<NodeSession> => {
      const s = sessions.get(name) ?? opened.get(name);
      if (s) return s;
      const fresh = await connect(name);
      opened.set(name, fresh);
      return fresh;
    };
    const runner = (names: string[], argv: string[]): Promise<NodeRun[]> =>
      Promise.all(
        names.map(async (name): Promise<NodeRun> => {
          try {
            return await runBulwark(await session(name), argv);
          } catch (e) {
            return { node: name, code: 255, stdout: '', stderr: e instanceof Error ? e.message : String(e) };
          }
        }),
      );
    try {
      const { changed, failed } = await syncMembers(cfg, runner);
      if (failed.length) throw new Error(failed.map((r) => `${r.node}: ${(r.stderr || r.stdout).trim()}`).join('; '));
      for (const name of changed) say(name, 'mesh: new member list, agent converged');
      return { changed: changed.length > 0, detail: changed.length ? `member list updated on ${changed.join(', ')}` : 'no changes' };
    } finally {
      for (const s of opened.values()) s.close();
    }
  },
};
