import type { Config } from '../config/schema.js';
import type { NodeSession } from './ssh.js';

/**
 * Steps that run after every targeted node finished its own bootstrap (e.g. joining the mesh, which needs
 * all nodes' public keys). Each receives the open sessions of the nodes that succeeded.
 */
export interface ClusterStep {
  name: string;
  run(
    cfg: Config,
    sessions: Map<string, NodeSession>,
    say: (node: string, msg: string) => void,
    /** Opens a session to a configured node that was not bootstrapped in this run (host key checked). */
    connect: (name: string) => Promise<NodeSession>,
  ): Promise<{ changed: boolean; detail: string }>;
}

export async function loadClusterSteps(): Promise<ClusterStep[]> {
  return [(await import('./mesh-step.js')).meshStep];
}
