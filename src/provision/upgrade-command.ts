import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { Progress } from '../core/progress.js';
import { loadConfig } from '../config/index.js';
import { knownHostsPath } from '../config/locate.js';
import { resolveTargets, TARGET_OPTIONS } from '../remote/select.js';
import { assetRoot } from '../util/assets.js';
import { VERSION } from '../version.js';
import { runtimeArtifact } from './runtime-artifact.js';
import { readRuntimeFile, upgrade, type RuntimeTarget, type UpgradeEvent } from './upgrade.js';
import { exitFor, upgradeOrder, type NodeOutcome } from './upgrade-plan.js';

const DEFAULT_TIMEOUT_SEC = 300;

/** One line per outcome for people. Pure. */
export function renderOutcome(o: NodeOutcome): string {
  switch (o.result) {
    case 'upgraded':
      return `${o.node}: upgraded ${o.from} -> ${o.to}, healthy in ${o.seconds.toFixed(1)} s`;
    case 'already':
      return `${o.node}: already at ${o.version}`;
    case 'rolled-back':
      return `${o.node}: ROLLED BACK: ${o.reason}; ${o.restored ? 'healthy again on the previous runtime' : `NOT healthy on the previous runtime either: ${(o.restoreProblems ?? []).join('; ')}`}`;
    case 'refused':
      return `${o.node}: REFUSED: ${o.reason}`;
    case 'failed':
      return `${o.node}: FAILED: ${o.reason}`;
    case 'untouched':
      return `${o.node}: ${o.reason}`;
  }
}

export const upgradeCommand: Command = {
  name: 'upgrade',
  summary: "replace Bulwark's runtime on the nodes, one at a time, rolling back a node that is not healthy",
  help: `Usage: bulwark [-c FILE] upgrade (NODE...|--node N...|--all) [--runtime FILE] [--timeout SEC] [--json]

Replaces Bulwark's own runtime (the Node binary and bundle bootstrap installed) on the named nodes, one
node at a time, in the config's order. On each node:
  check      reads the node's health; a node already at the target runtime (same SHA-256) is left
             alone ("already at VERSION"); a node that is not healthy to begin with is refused and
             nothing is changed on it
  stage      uploads the artifact, checks its SHA-256 there, unpacks it into
             /opt/bulwark/releases/ID (ID: the first 16 hex digits of the SHA-256)
  switch     /opt/bulwark/current is pointed at the new release by an atomic rename; the release it
             replaces stays on disk as /opt/bulwark/previous (/usr/lib/bulwark is a link to current);
             the release's bulwark-agent.service is installed if it differs
  restart    bulwark-agent is restarted; the agent rebuilds the router image from the new runtime and
             restarts bulwark-router (upgrade restarts the router itself if it still runs the old image
             once the agent is done)
  health     waited for up to --timeout: the agent active, running from the new release, its last pass
             reporting no capability failing; every mesh peer with a recent handshake and answering a
             ping over bw0; bulwark-router active on the image built for it and answering HTTPS on 443;
             every app unit active
  rollback   a node not healthy in time (or whose agent keeps dying) is switched back to the previous
             release, its agent restarted, and its health checked again; the nodes after it are not
             touched
After a healthy switch, releases other than current and previous are removed and the node's
integrity manifest is recorded again (bulwark integrity manifest), as after a rollback.

Options:
  --runtime FILE   push this runtime artifact (a bulwark-runtime-*.tar.gz) instead of the one this CLI
                   was built with (build/bulwark-runtime-VERSION-linux-ARCH.tar.gz)
  --timeout SEC    how long a node may take to become healthy, after the switch and after a rollback
                   (default ${DEFAULT_TIMEOUT_SEC})
  --json           one JSON object per line per event (node-start, check, already, refused, upload,
                   staged, switched, restarted, waiting, integrity, healthy, rollback, switched-back, rolled-back,
                   untouched, failed), then {"event":"done",...} with every node's outcome

Exit codes: 0 every node is at the target runtime (upgraded or already there), 2 usage or config error
(an unknown option or node, a --runtime that is not a runtime artifact), 3 a node was rolled back,
refused or failed (it is named with the reason; the nodes after it were not touched).`,
  async run(ctx, args) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...TARGET_OPTIONS, runtime: { type: 'string' }, timeout: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    const timeoutSec = values.timeout === undefined ? DEFAULT_TIMEOUT_SEC : Number(values.timeout);
    if (!Number.isInteger(timeoutSec) || timeoutSec < 5 || timeoutSec > 3600) throw new UsageError(`--timeout must be a whole number of seconds from 5 to 3600, not "${values.timeout}"`);
    const cfg = loadConfig(ctx.configPath);
    const nodes = upgradeOrder(
      cfg.nodes,
      resolveTargets(cfg, [...positionals, ...(values.node ?? [])], Boolean(values.all)).map((n) => n.name),
    );
    let target: RuntimeTarget;
    if (values.runtime !== undefined) {
      if (!existsSync(values.runtime)) throw new UsageError(`--runtime ${values.runtime}: no such file`);
      try {
        target = await readRuntimeFile(values.runtime);
      } catch (e) {
        throw new UsageError(`--runtime ${values.runtime}: ${e instanceof Error ? e.message : String(e)}`);
      }
    } else {
      target = { ...runtimeArtifact(assetRoot()), version: VERSION };
    }
    const progress = new Progress(ctx.err);
    const t0 = Date.now();
    const emit = (e: UpgradeEvent) => {
      if (ctx.json) ctx.out.write(JSON.stringify({ at: new Date().toISOString(), ...e }) + '\n');
      else if (e.node) progress.update(e.node, `${e.event}${e.reason ? `: ${String(e.reason)}` : e.problems ? `: ${(e.problems as string[]).join('; ')}` : ''}`);
    };
    emit({ event: 'plan', target: { version: target.version, sha256: target.sha256 }, nodes: nodes.map((n) => n.name), timeoutSec });
    const outcomes = await upgrade(cfg, nodes, { knownHosts: knownHostsPath(ctx.configPath), target, timeoutMs: timeoutSec * 1000, emit });
    const code = exitFor(outcomes);
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    if (ctx.json) emit({ event: 'done', ok: code === EXIT.OK, exit: code, seconds, nodes: outcomes });
    else {
      for (const o of outcomes) ctx.out.write(renderOutcome(o) + '\n');
      ctx.out.write(
        `upgrade to ${target.version}: ${outcomes.filter((o) => o.result === 'upgraded' || o.result === 'already').length}/${outcomes.length} nodes at the target in ${seconds.toFixed(1)} s\n`,
      );
    }
    return code;
  },
};
