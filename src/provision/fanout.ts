import type { CliContext } from '../cli/command.js';
import { knownHostsPath } from '../config/locate.js';
import type { Config, NodeSpec } from '../config/schema.js';
import { HostKeyChangedError } from './known-hosts.js';
import { NodeSession, shQuote } from './ssh.js';

export { onNode, resolveTargets } from './targets.js';

export interface NodeRun {
  node: string;
  /** Exit code of `bulwark ...` on the node; 255 when the node could not be reached. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bulwark ARGV` as root on each node over SSH, in parallel; one node's failure doesn't stop
 * the others. Host keys are checked against the pinned ones.
 */
export async function runOnNodes(ctx: CliContext, cfg: Config, nodes: NodeSpec[], argv: string[]): Promise<NodeRun[]> {
  const kh = knownHostsPath(ctx.configPath);
  const line = ['/usr/local/sbin/bulwark', ...argv].map(shQuote).join(' ');
  return Promise.all(
    nodes.map(async (n): Promise<NodeRun> => {
      let s: NodeSession | undefined;
      try {
        s = await NodeSession.connect(n, cfg, kh);
        const probe = await s.exec('test -x /usr/local/sbin/bulwark');
        if (probe.code !== 0) return { node: n.name, code: 255, stdout: '', stderr: `${n.name} is not bootstrapped (no bulwark on it): run bulwark bootstrap ${n.name}` };
        const r = await s.exec(line);
        return { node: n.name, ...r };
      } catch (e) {
        const msg = e instanceof HostKeyChangedError ? e.message : e instanceof Error ? e.message : String(e);
        return { node: n.name, code: 255, stdout: '', stderr: msg };
      } finally {
        s?.close();
      }
    }),
  );
}
