import type { NodeRun } from '../core/cluster.js';
import type { CliContext } from '../core/command.js';
import { knownHostsPath } from '../config/locate.js';
import type { Config, NodeSpec } from '../config/schema.js';
import { HostKeyChangedError } from './known-hosts.js';
import { NodeSession, shQuote } from './ssh.js';

/** Runs `bulwark ARGV` as root over an open session; 255 with a clear message where it isn't installed. */
export async function runBulwark(s: NodeSession, argv: string[]): Promise<NodeRun> {
  const node = s.node.name;
  if ((await s.exec('test -x /usr/local/sbin/bulwark')).code !== 0) {
    return { node, code: 255, stdout: '', stderr: `${node} is not bootstrapped (no bulwark on it): run bulwark bootstrap ${node}` };
  }
  return { node, ...(await s.exec(['/usr/local/sbin/bulwark', ...argv].map(shQuote).join(' '))) };
}

/**
 * Runs `bulwark ARGV` as root on each node over SSH, in parallel; one node's failure doesn't stop
 * the others. Host keys are checked against the pinned ones.
 */
export async function runOnNodes(ctx: CliContext, cfg: Config, nodes: NodeSpec[], argv: string[]): Promise<NodeRun[]> {
  const kh = knownHostsPath(ctx.configPath);
  return Promise.all(
    nodes.map(async (n): Promise<NodeRun> => {
      let s: NodeSession | undefined;
      try {
        s = await NodeSession.connect(n, cfg, kh);
        return await runBulwark(s, argv);
      } catch (e) {
        const msg = e instanceof HostKeyChangedError ? e.message : e instanceof Error ? e.message : String(e);
        return { node: n.name, code: 255, stdout: '', stderr: msg };
      } finally {
        s?.close();
      }
    }),
  );
}
