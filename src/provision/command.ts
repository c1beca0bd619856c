import { parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';
import type { BootstrapGuard, ClusterStep, NodePrepStep } from '../core/cluster.js';
import { EXIT, type Command } from '../core/command.js';
import { Progress } from '../core/progress.js';
import { loadConfig } from '../config/index.js';
import { knownHostsPath } from '../config/locate.js';
import { bootstrap } from './bootstrap.js';
import { resolveTargets, TARGET_OPTIONS } from '../remote/select.js';

/** `bulwark bootstrap`; the capabilities' guards and cluster-wide steps come from src/cli/plugins.ts. */
export const bootstrapCommand = (plugins: {
  guards: () => Promise<BootstrapGuard<Config>[]>;
  clusterSteps: () => Promise<ClusterStep<Config>[]>;
  prepSteps?: () => Promise<NodePrepStep<Config>[]>;
}): Command => ({
  name: 'bootstrap',
  summary: 'provision nodes over SSH: preflight, packages, runtime, units',
  help: `Usage: bulwark [-c FILE] bootstrap (NODE...|--node N...|--all) [--json]

Provisions fresh Debian 12/13 or Ubuntu 22.04/24.04 servers over SSH, all named nodes in parallel:
  connect    host key pinned on first use in bulwark.known_hosts beside the config; a changed key is
             refused and nothing is done on that node
  preflight  distribution and version, systemd as PID 1, root or passwordless sudo, architecture, free disk
  sources    the apt sources: the configured mirrors and security archive (provisioning.packages), or the
             node's own plus the security suite when they lack it
  packages   provisioning/packages/DISTRO.txt, from the node's apt sources (packages: apt) or as an offline
             bundle this machine downloads and uploads (packages: bundle; needs the same release here)
  runtime    Bulwark's own runtime (Node binary + bundle) into /usr/lib/bulwark, SHA-256 checked on the node
  config     the cluster config to /etc/bulwark/bulwark.yaml, the node's name to /etc/bulwark/node.json
  agent      bulwark-agent.service installed, enabled, started; waits until it reports ready (a node
             whose agent reports a capability failing, the firewall say, counts as failed)
Re-running on a converged node changes nothing and restarts nothing ("no changes" for every step).

Exit codes: 0 every node ok, 2 usage or config error, 3 at least one node failed (the others finish) or
the mesh step could not run (member lists are then left as they were).`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({ args, options: TARGET_OPTIONS, allowPositionals: true, strict: true });
    const cfg = loadConfig(ctx.configPath);
    const nodes = resolveTargets(cfg, [...positionals, ...(values.node ?? [])], Boolean(values.all));
    const progress = new Progress(ctx.err);
    const t0 = Date.now();
    const { reports, cluster } = await bootstrap(cfg, nodes, {
      configPath: ctx.configPath,
      knownHosts: knownHostsPath(ctx.configPath),
      say: (node, msg) => progress.update(node, msg),
      clusterSteps: await plugins.clusterSteps(),
      guards: await plugins.guards(),
      prepSteps: plugins.prepSteps ? await plugins.prepSteps() : [],
    });
    const seconds = (Date.now() - t0) / 1000;
    if (ctx.json) {
      ctx.out.write(JSON.stringify({ ok: reports.every((r) => r.ok) && cluster.every((c) => !c.error), seconds, nodes: reports, cluster }) + '\n');
    } else {
      for (const r of reports) {
        if (!r.ok) ctx.out.write(`${r.node}: FAILED: ${r.error}\n`);
        else if (r.unchanged) ctx.out.write(`${r.node}: no changes\n`);
        else
          ctx.out.write(
            `${r.node}: ok (${r.steps
              .filter((s) => s.changed)
              .map((s) => s.step)
              .join(', ')} changed) in ${r.seconds.toFixed(1)} s\n`,
          );
        for (const s of r.steps) ctx.out.write(`  ${s.step.padEnd(10)} ${s.detail}\n`);
      }
      for (const c of cluster) ctx.out.write(`cluster: ${c.step}: ${c.detail}\n`);
      ctx.out.write(`bootstrap: ${reports.filter((r) => r.ok).length}/${reports.length} nodes ok in ${seconds.toFixed(1)} s\n`);
    }
    return reports.every((r) => r.ok) && cluster.every((c) => !c.error) ? EXIT.OK : EXIT.NODE_FAILED;
  },
});
