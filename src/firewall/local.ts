import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { run } from '../util/exec.js';
import { rm } from 'node:fs/promises';
import { bootFiles, saveLastApplied } from './boot.js';
import { diffTable, stable, type TableDiff, type TableState } from './compare.js';
import { decideRollback, FirewallState, newToken, type Pending } from './confirm.js';
import { checkSshPath, parseSshConnection, type LockoutVerdict } from './lockout.js';
import { applyPlan, readTable, readTableJson, restoreTableJson, type ApplyMode } from './nft.js';
import type { Json } from './nft-json.js';
import { aptMirrorTargets, factsFromConfig, probeNode, resolveMirrors, type NodeProbe } from './node-facts.js';
import { planFirewall, planTransaction, type FirewallPlan } from './plan.js';
import { tableText } from './render-text.js';
import { bansOf, type SshBan } from './ssh-ban.js';

/** Where the firewall commands act: the real host by default; a namespace and temp dir in tests. */
export interface FirewallHost {
  netns?: string;
  state: FirewallState;
  probe: () => Promise<NodeProbe>;
  env: NodeJS.ProcessEnv;
  /** Arranges for `bulwark firewall rollback --token T` to run after `ms`. Returns how (for the output). */
  scheduleRollback: (token: string, ms: number) => Promise<string>;
  /** Resolves an apt mirror's host name (default: getaddrinfo on this node, as apt does). */
  resolve?: (host: string) => Promise<string[]>;
}

export function nodeHost(): FirewallHost {
  return { state: new FirewallState(), probe: () => probeNode(), env: process.env, scheduleRollback: scheduleRollbackJob };
}

/** A transient systemd timer when systemd runs, else a detached `bulwark firewall rollback --wait`. */
async function scheduleRollbackJob(token: string, ms: number): Promise<string> {
  const cli = process.argv[1] ?? '/usr/local/sbin/bulwark';
  const secs = Math.ceil(ms / 1000);
  if (existsSync('/run/systemd/system')) {
    const unit = `bulwark-fw-rollback-${token}`;
    // --wait: a timer never fires early, but if it did the command still waits for the deadline
    const r = await run([
      'systemd-run',
      `--on-active=${secs}s`,
      '--timer-property=AccuracySec=1s',
      `--unit=${unit}`,
      '--description=Bulwark firewall rollback unless confirmed',
      '/usr/local/sbin/bulwark',
      'firewall',
      'rollback',
      '--token',
      token,
      '--wait',
    ]);
    if (r.code === 0) return `systemd timer ${unit}.timer`;
  }
  const child = spawn(process.execPath, [cli, 'firewall', 'rollback', '--token', token, '--wait'], { detached: true, stdio: 'ignore' });
  child.unref();
  return `detached process ${child.pid}`;
}

export function planKey(plan: FirewallPlan): string {
  return createHash('sha256')
    .update(stable(planTransaction(plan)))
    .digest('hex')
    .slice(0, 16);
}

export async function planFor(config: Config, nodeName: string, host: FirewallHost): Promise<FirewallPlan> {
  const probe = await host.probe();
  const hosts = aptMirrorTargets(config).map((t) => t.host);
  const mirrorAddresses = hosts.length ? await resolveMirrors(hosts, host.resolve) : undefined;
  return planFirewall(config.firewall, factsFromConfig(config, nodeName, { ...probe, ...(mirrorAddresses ? { mirrorAddresses } : {}) }));
}

export interface PlanReport {
  node: string;
  text: string;
  notes: string[];
  live: 'absent' | 'equal' | 'differs';
  changes: string[];
}

export async function localPlan(config: Config, nodeName: string, host: FirewallHost): Promise<PlanReport> {
  const plan = await planFor(config, nodeName, host);
  const live = await readTable({ netns: host.netns });
  const d = diffTable(plan, live);
  return { node: nodeName, text: tableText(plan), notes: plan.notes, live: live ? (d.equal ? 'equal' : 'differs') : 'absent', changes: d.changes };
}

export interface ApplyReport {
  node: string;
  applied: boolean;
  mode?: ApplyMode;
  changes: string[];
  lockout: LockoutVerdict;
  notes: string[];
  pending?: { token: string; deadline: string; how: string };
  error?: string;
}

export async function localApply(config: Config, nodeName: string, host: FirewallHost, opts: { force?: boolean; confirmWithinMs?: number } = {}): Promise<ApplyReport> {
  const plan = await planFor(config, nodeName, host);
  const lockout = checkSshPath(plan, parseSshConnection(host.env.SSH_CONNECTION));
  const base = { node: nodeName, lockout, notes: plan.notes };
  if (!config.firewall.enabled) return { ...base, applied: false, changes: [], error: 'firewall.enabled is false: nothing applied' };
  if (!lockout.ok && !opts.force) return { ...base, applied: false, changes: [], error: `refused: ${lockout.reason}; or pass --force` };
  const previous = await readTableJson({ netns: host.netns });
  const diff = diffTable(plan, previous === null ? null : await readTable({ netns: host.netns }));
  if (!diff.equal) await host.state.savePrevious(previous);
  const r = await applyPlan(plan, { netns: host.netns });
  await host.state.clearHold();
  let pending: ApplyReport['pending'];
  if (opts.confirmWithinMs !== undefined && r.mode !== 'unchanged') {
    const p: Pending = { token: newToken(), deadline: Date.now() + opts.confirmWithinMs, appliedAt: Date.now() };
    await host.state.setPending(p);
    const how = await host.scheduleRollback(p.token, opts.confirmWithinMs);
    pending = { token: p.token, deadline: new Date(p.deadline).toISOString(), how };
  }
  // What boots next (boot.ts); one waiting for confirmation is saved by the agent once it stays.
  if (!pending) await saveLastApplied({ dir: host.state.dir, netns: host.netns }).catch(() => false);
  return { ...base, applied: true, mode: r.mode, changes: r.before.changes, pending };
}

export async function localConfirm(host: FirewallHost): Promise<{ confirmed: boolean; message: string }> {
  const p = await host.state.readPending();
  if (!p) return { confirmed: false, message: 'nothing to confirm (no apply is waiting for confirmation)' };
  await host.state.clearPending();
  return { confirmed: true, message: `confirmed the ruleset applied at ${new Date(p.appliedAt).toISOString()}` };
}

/**
 * The rollback timer's work: with `wait`, sleeps until the pending deadline; then restores the saved previous table
 * unless the apply was confirmed (or superseded by a newer apply). Without a token: an explicit manual rollback.
 */
export async function localRollback(
  config: Config,
  nodeName: string,
  host: FirewallHost,
  opts: { token?: string; wait?: boolean; now?: () => number } = {},
): Promise<{ rolledBack: boolean; message: string }> {
  const now = opts.now ?? Date.now;
  if (opts.token) {
    for (;;) {
      const d = decideRollback(await host.state.readPending(), opts.token, now());
      if (d === 'wait' && opts.wait) {
        const p = await host.state.readPending();
        await new Promise((r) => setTimeout(r, Math.max(50, Math.min(1000, (p?.deadline ?? now()) - now()))));
        continue;
      }
      if (d !== 'rollback') return { rolledBack: false, message: d === 'wait' ? 'not yet due' : `no rollback: ${d}` };
      break;
    }
  }
  const prev = await host.state.readPrevious();
  if (!prev) return { rolledBack: false, message: 'no saved previous ruleset' };
  await restoreTableJson(prev.listing, { netns: host.netns });
  await host.state.clearPending();
  const plan = await planFor(config, nodeName, host);
  await host.state.setHold(planKey(plan), opts.token ? 'not confirmed in time' : 'manual rollback');
  // The next boot loads what is live now; with no table, the fail-closed fallback.
  if (prev.listing) await saveLastApplied({ dir: host.state.dir, netns: host.netns }).catch(() => false);
  else await rm(bootFiles(host.state.dir).saved, { force: true });
  return { rolledBack: true, message: prev.listing ? 'restored the previous table inet bulwark' : 'removed table inet bulwark (there was none before)' };
}

export interface RuleCounter {
  chain: string;
  rule: string;
  packets: number;
  bytes: number;
}
export interface StatusReport {
  node: string;
  present: boolean;
  matchesPlan: boolean;
  changes: string[];
  policies: Record<string, string>;
  rules: RuleCounter[];
  held?: string;
  pending?: string;
  /** Sources banned from SSH for opening new connections too fast, with the seconds left. */
  sshBans: SshBan[];
}

export function countersOf(live: TableState): RuleCounter[] {
  return live.rules.map((r) => {
    const c = r.expr.find((e): e is { counter: { packets: number; bytes: number } } => typeof e === 'object' && e !== null && !Array.isArray(e) && 'counter' in e) as
      | { counter?: Record<string, Json> }
      | undefined;
    return { chain: r.chain, rule: r.comment ?? `#${r.handle ?? '?'}`, packets: Number(c?.counter?.packets ?? 0), bytes: Number(c?.counter?.bytes ?? 0) };
  });
}

export async function localStatus(config: Config, nodeName: string, host: FirewallHost): Promise<StatusReport> {
  const plan = await planFor(config, nodeName, host);
  const live = await readTable({ netns: host.netns });
  const d: TableDiff = diffTable(plan, live);
  const hold = await host.state.readHold();
  const pending = await host.state.readPending();
  return {
    node: nodeName,
    present: live !== null,
    matchesPlan: d.equal,
    changes: d.changes,
    policies: Object.fromEntries((live?.chains ?? []).map((c) => [c.name, c.policy ?? '-'])),
    rules: live ? countersOf(live) : [],
    held: hold ? `rolled back (${hold.reason}) at ${hold.at}` : undefined,
    pending: pending ? `waiting for \`bulwark firewall confirm\` until ${new Date(pending.deadline).toISOString()}` : undefined,
    sshBans: bansOf(live),
  };
}
