/**
 * `bulwark upgrade`, the effects: per node, over SSH, one node at a time: read health, upload and stage
 * the runtime, switch `current`, restart the agent, wait for health; roll back on failure. Every decision
 * is upgrade-plan.ts's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Config, NodeSpec } from '../config/schema.js';
import { HostKeyChangedError } from '../remote/known-hosts.js';
import { NodeSession } from '../remote/ssh.js';
import { run } from '../util/exec.js';
import { pruneScript, releaseId, rollbackScript, stageScript, switchScript } from './releases.js';
import { continueAfter, decideAfterSwitch, decideStart, HEALTH_SCRIPT, judgeHealth, parseHealth, type HealthFacts, type NodeOutcome } from './upgrade-plan.js';

export interface RuntimeTarget {
  path: string;
  sha256: string;
  /** The VERSION file inside the artifact. */
  version: string;
}

/** One progress event (a JSON line with --json). */
export interface UpgradeEvent {
  event: string;
  node?: string;
  [field: string]: unknown;
}

export interface UpgradeOptions {
  knownHosts: string;
  target: RuntimeTarget;
  /** How long a node may take to report healthy after the switch (and again after a rollback). */
  timeoutMs: number;
  pollMs?: number;
  emit: (e: UpgradeEvent) => void;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads a runtime artifact given with --runtime: its SHA-256 and VERSION; refuses a file that is not one. */
export async function readRuntimeFile(path: string): Promise<RuntimeTarget> {
  const list = await run(['tar', '-tzf', path], { timeoutMs: 120_000 });
  if (list.code !== 0) throw new Error(`${path} is not a gzip'd tar (${list.stderr.trim().split('\n')[0] ?? ''})`);
  const names = new Set(list.stdout.split('\n').map((n) => n.replace(/^\.\//, '')));
  for (const want of ['node', 'bulwark.mjs']) if (!names.has(want)) throw new Error(`${path} is not a Bulwark runtime artifact (no ${want} in it)`);
  const v = await run(['tar', '-xzOf', path, './VERSION'], { timeoutMs: 120_000 });
  return { path, sha256: await sha256File(path), version: v.code === 0 ? v.stdout.trim() || 'unknown' : 'unknown' };
}

async function health(s: NodeSession): Promise<HealthFacts> {
  const r = await s.exec(HEALTH_SCRIPT);
  return parseHealth(r.stdout);
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/**
 * Polls the node until it is healthy for `release` or decideAfterSwitch gives up. Restarts the router
 * once when the agent is done but the router still runs the image of the runtime before.
 */
async function waitHealthy(
  s: NodeSession,
  release: string,
  restartsBefore: number,
  o: UpgradeOptions,
  phase: 'upgrade' | 'rollback',
): Promise<{ ok: true; facts: HealthFacts } | { ok: false; reason: string; problems: string[] }> {
  const t0 = Date.now();
  let lastShown = '';
  let routerKicked = false;
  for (;;) {
    const f = await health(s);
    // NRestarts counts systemd's own restarts; an explicit restart may or may not reset it
    const restarts = f.agent.nRestarts >= restartsBefore ? f.agent.nRestarts - restartsBefore : f.agent.nRestarts;
    const v = judgeHealth({ ...f, agent: { ...f.agent, nRestarts: restarts } }, { release });
    const d = decideAfterSwitch(v, Date.now() - t0, o.timeoutMs);
    if (d.action === 'healthy') return { ok: true, facts: f };
    if (d.action === 'rollback') return { ok: false, reason: d.reason, problems: v.problems };
    if (!routerKicked && v.problems.length === 1 && v.problems[0] === 'router still runs an older image') {
      routerKicked = true;
      await s.exec('systemctl restart --no-block bulwark-router');
    }
    const shown = d.problems.join('; ');
    if (shown !== lastShown) o.emit({ event: 'waiting', node: s.node.name, phase, problems: d.problems, seconds: Math.round((Date.now() - t0) / 100) / 10 });
    lastShown = shown;
    await sleep(o.pollMs ?? 2_000);
  }
}

/**
 * The node's integrity manifest names the runtime's files by hash: after a switch (either way) it is
 * recorded again by the runtime now current, so the daily check does not report Bulwark's own upgrade.
 */
async function recordIntegrity(s: NodeSession, cfg: Config, o: UpgradeOptions): Promise<void> {
  if (!cfg.hardening.integrity.enabled) return;
  const r = await s.exec('/usr/local/sbin/bulwark integrity manifest');
  o.emit({ event: 'integrity', node: s.node.name, recorded: r.code === 0, detail: (r.code === 0 ? r.stdout : r.stderr || r.stdout).trim().split('\n').at(-1) ?? '' });
}

async function upgradeOne(spec: NodeSpec, cfg: Config, o: UpgradeOptions): Promise<NodeOutcome> {
  const node = spec.name;
  const t0 = Date.now();
  const id = releaseId(o.target.sha256);
  let s: NodeSession | undefined;
  let switched = false;
  let prior = '';
  try {
    o.emit({ event: 'node-start', node });
    s = await NodeSession.connect(spec, cfg, o.knownHosts);
    const before = await health(s);
    prior = before.current;
    const start = decideStart(before, o.target.sha256, o.target.version);
    o.emit({ event: 'check', node, runtime: before.runtimeVersion, release: before.current, healthy: judgeHealth(before).healthy, problems: judgeHealth(before).problems });
    if (start.action === 'skip') {
      o.emit({ event: 'already', node, version: o.target.version, reason: start.reason });
      return { node, result: 'already', version: o.target.version };
    }
    if (start.action === 'refuse') {
      o.emit({ event: 'refused', node, reason: start.reason });
      return { node, result: 'refused', reason: start.reason };
    }
    const up = '/var/lib/bulwark/upload';
    await s.execOk(`mkdir -p -m 0700 /var/lib/bulwark ${up}` + (s.sudo ? ` && chown "$SUDO_USER" ${up}` : ''));
    o.emit({ event: 'upload', node });
    await s.upload(o.target.path, `${up}/runtime.tar.gz`);
    const staged = await s.execOk(stageScript(`${up}/runtime.tar.gz`, o.target.sha256));
    o.emit({ event: 'staged', node, release: `releases/${id}`, version: staged.stdout.trim().split('\n').at(-1) ?? '' });
    const sw = await s.execOk(switchScript(o.target.sha256));
    switched = true;
    const [, from = '', to = ''] = sw.stdout.trim().split('\n').at(-1)?.split(' ') ?? [];
    o.emit({ event: 'switched', node, from: before.runtimeVersion, fromRelease: from, to: o.target.version, toRelease: to });
    await s.exec('systemctl reset-failed bulwark-agent 2>/dev/null; systemctl restart --no-block bulwark-agent');
    o.emit({ event: 'restarted', node, units: ['bulwark-agent'] });
    const w = await waitHealthy(s, `releases/${id}`, before.agent.nRestarts, o, 'upgrade');
    if (w.ok) {
      await s.exec(pruneScript());
      await recordIntegrity(s, cfg, o);
      const seconds = Math.round((Date.now() - t0) / 100) / 10;
      o.emit({ event: 'healthy', node, version: o.target.version, release: `releases/${id}`, seconds, agentRssKiB: w.facts.agent.rssKiB });
      return { node, result: 'upgraded', from: before.runtimeVersion, to: o.target.version, seconds };
    }
    // roll back: the previous release current again, the agent restarted on it, and health checked again
    o.emit({ event: 'rollback', node, reason: w.reason, to: before.runtimeVersion, toRelease: before.current });
    const rb = await s.execOk(rollbackScript(undefined, before.current ? { to: before.current } : {}));
    o.emit({ event: 'switched-back', node, detail: rb.stdout.trim().split('\n').at(-1) ?? '' });
    const mid = await health(s);
    await s.exec('systemctl reset-failed bulwark-agent 2>/dev/null; systemctl restart --no-block bulwark-agent');
    const back = await waitHealthy(s, before.current, mid.agent.nRestarts, o, 'rollback');
    if (back.ok) await recordIntegrity(s, cfg, o);
    o.emit({ event: 'rolled-back', node, restored: back.ok, version: before.runtimeVersion, release: before.current, ...(back.ok ? {} : { problems: back.problems }) });
    return { node, result: 'rolled-back', reason: w.reason, restored: back.ok, ...(back.ok ? {} : { restoreProblems: back.problems }) };
  } catch (e) {
    let reason = e instanceof HostKeyChangedError ? e.message : e instanceof Error ? e.message : String(e);
    // an error once the switch may have happened: put the previous release back if the node still answers
    if (switched && s && prior) {
      const rb = await s.exec(`${rollbackScript(undefined, { to: prior })}\nsystemctl reset-failed bulwark-agent 2>/dev/null; systemctl restart --no-block bulwark-agent`).catch(() => undefined);
      reason += rb?.code === 0 ? '; switched back to the previous release' : '; could NOT switch back to the previous release';
    }
    o.emit({ event: 'failed', node, reason });
    return { node, result: 'failed', reason };
  } finally {
    s?.close();
  }
}

/** Upgrades `nodes` (already in order) one at a time; stops at the first node that does not end healthy on the target. */
export async function upgrade(cfg: Config, nodes: readonly NodeSpec[], o: UpgradeOptions): Promise<NodeOutcome[]> {
  const outcomes: NodeOutcome[] = [];
  let stop: NodeOutcome | undefined;
  for (const n of nodes) {
    if (stop) {
      const reason = `not touched: ${stop.node} ${stop.result === 'rolled-back' ? 'was rolled back' : stop.result === 'refused' ? 'was refused' : 'failed'}`;
      o.emit({ event: 'untouched', node: n.name, reason });
      outcomes.push({ node: n.name, result: 'untouched', reason });
      continue;
    }
    const out = await upgradeOne(n, cfg, o);
    outcomes.push(out);
    if (!continueAfter(out)) stop = out;
  }
  return outcomes;
}
