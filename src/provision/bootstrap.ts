import { readFileSync } from 'node:fs';
import type { Config, NodeSpec } from '../config/schema.js';
import type { BootstrapGuard, ClusterStep, NodePrepStep, NodeRun } from '../core/cluster.js';
import { assetRoot } from '../util/assets.js';
import { runBulwark } from '../remote/fanout.js';
import { HostKeyChangedError } from '../remote/known-hosts.js';
import { runtimeArtifact } from './runtime-artifact.js';
import { installFirewallBoot } from './firewall-boot-step.js';
import { NodeSession } from '../remote/ssh.js';
import { installAgentUnit, installConfig, installPackages, installRuntime, preflight, waitAgentConverged, waitAgentReady, type StepResult } from './steps.js';

export interface NodeReport {
  node: string;
  ok: boolean;
  steps: StepResult[];
  error?: string;
  /** True when nothing on the node changed. */
  unchanged: boolean;
  seconds: number;
}

export interface BootstrapOptions {
  configPath: string;
  knownHosts: string;
  say: (node: string, msg: string) => void;
  /** Run after every node finished its own steps, with the nodes that succeeded (src/cli/plugins.ts). */
  clusterSteps: ClusterStep<Config>[];
  /** Checked on each node before anything is installed (the firewall's lockout guard). */
  guards: BootstrapGuard<Config>[];
  /** Run on each node after preflight, before packages (the apt sources: src/updates). */
  prepSteps?: NodePrepStep<Config>[];
}

async function bootstrapOne(node: NodeSpec, cfg: Config, configText: string, artifact: { path: string; sha256: string }, o: BootstrapOptions, sessions: Map<string, NodeSession>): Promise<NodeReport> {
  const t0 = Date.now();
  const steps: StepResult[] = [];
  const say = (m: string) => o.say(node.name, m);
  let s: NodeSession | undefined;
  try {
    say('connecting');
    s = await NodeSession.connect(node, cfg, o.knownHosts);
    if (s.pinnedFingerprint) say(`host key pinned on first use: ${s.pinnedFingerprint}`);
    const pf = await preflight(s, cfg, o.guards);
    steps.push(pf.result);
    say(`preflight ok: ${pf.result.detail}`);
    for (const prep of o.prepSteps ?? []) {
      const session = s;
      const r = await prep.run(cfg, node.name, { exec: (cmd, stdin) => session.exec(cmd, stdin) }, pf.distro);
      steps.push({ step: prep.name, ...r });
      say(`${prep.name}: ${r.detail}`);
    }
    const pk = await installPackages(s, node, cfg, pf.facts, pf.distro, say);
    steps.push(pk);
    say(`packages: ${pk.detail}`);
    const rt = await installRuntime(s, artifact, say);
    steps.push(rt);
    say(`runtime: ${rt.detail}`);
    const cf = await installConfig(s, node, cfg, configText);
    steps.push(cf);
    say(`config: ${cf.detail}`);
    const fb = await installFirewallBoot(s, cfg);
    steps.push(fb);
    say(`firewall boot: ${fb.detail}`);
    const ag = await installAgentUnit(s, rt.changed, cf.changed);
    steps.push(ag);
    say(`agent: ${ag.detail}`);
    const ready = await waitAgentReady(s);
    if (/\d+ failing: /.test(ready)) say(`ready: ${ready}; waiting for the next passes`);
    const status = await waitAgentConverged(s, ready);
    say(`ready: ${status}`);
    // the agent is up but could not bring a capability to its plan (the firewall, say): not a converged node
    const failing = /\d+ failing: (.+)$/.exec(status);
    if (failing) throw new Error(`the agent reports ${failing[1]} failing (journalctl -u bulwark-agent on ${node.name})`);
    sessions.set(node.name, s);
    s = undefined;
    return { node: node.name, ok: true, steps, unchanged: steps.every((x) => !x.changed), seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    const error = e instanceof HostKeyChangedError ? e.message : e instanceof Error ? e.message : String(e);
    say(`FAILED: ${error}`);
    return { node: node.name, ok: false, steps, error, unchanged: steps.every((x) => !x.changed), seconds: (Date.now() - t0) / 1000 };
  } finally {
    s?.close();
  }
}

/** Bootstraps nodes in parallel; a node's failure never stops the others. */
export async function bootstrap(cfg: Config, nodes: NodeSpec[], o: BootstrapOptions): Promise<{ reports: NodeReport[]; cluster: (StepResult & { error?: string })[] }> {
  const configText = readFileSync(o.configPath, 'utf8');
  const artifact = runtimeArtifact(assetRoot());
  const sessions = new Map<string, NodeSession>();
  try {
    const reports = await Promise.all(nodes.map((n) => bootstrapOne(n, cfg, configText, artifact, o, sessions)));
    const cluster: (StepResult & { error?: string })[] = [];
    // Cluster steps reach every configured node: over the sessions bootstrap opened, else a new one (host key checked).
    const opened = new Map<string, NodeSession>();
    const session = async (name: string): Promise<NodeSession> => {
      const s = sessions.get(name) ?? opened.get(name);
      if (s) return s;
      const spec = cfg.nodes.find((n) => n.name === name);
      if (!spec) throw new Error(`unknown node ${name}`);
      const fresh = await NodeSession.connect(spec, cfg, o.knownHosts);
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
      for (const step of o.clusterSteps) {
        if (sessions.size === 0) break;
        try {
          const r = await step.run(cfg, runner, o.say);
          cluster.push({ step: step.name, ...r });
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          o.say('cluster', `${step.name} FAILED: ${error}`);
          cluster.push({ step: step.name, changed: false, detail: `FAILED: ${error}`, error });
        }
      }
    } finally {
      for (const s of opened.values()) s.close();
    }
    return { reports, cluster };
  } finally {
    for (const s of sessions.values()) s.close();
  }
}
