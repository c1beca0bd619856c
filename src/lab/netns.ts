import { run, runOk } from '../util/exec.js';
import type { LabPlan } from './topology.js';

const ip = (args: string[], netns?: string) => runOk(['ip', ...args], { netns });

export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list']);
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

/** Kills every process left in a namespace, then deletes it. */
export async function destroyNetns(name: string): Promise<void> {
  const pids = await run(['ip', 'netns', 'pids', name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await run(['ip', 'netns', 'del', name]);
}

/** A veth pair with one end in `ns` (named `inner`) and the other on a bridge in the switch namespace. */
async function plug(plan: LabPlan, ns: string | undefined, inner: string, outer: string, bridge: string, addr: string): Promise<void> {
  const tmp = `${outer}x`;
  await ip(['link', 'add', tmp, 'type', 'veth', 'peer', 'name', outer, 'netns', plan.switchNs]);
  await ip(['link', 'set', outer, 'master', bridge, 'up'], plan.switchNs);
  if (ns) await ip(['link', 'set', tmp, 'netns', ns]);
  await ip(['link', 'set', tmp, 'name', inner], ns);
  await ip(['addr', 'add', `${addr}/24`, 'dev', inner], ns);
  await ip(['link', 'set', inner, 'up'], ns);
}

export async function createNetwork(plan: LabPlan): Promise<void> {
  await ip(['netns', 'add', plan.switchNs]);
  await ip(['link', 'set', 'lo', 'up'], plan.switchNs);
  for (const br of ['br-pub', 'br-mgmt']) {
    await ip(['link', 'add', br, 'type', 'bridge'], plan.switchNs);
    await ip(['link', 'set', br, 'up'], plan.switchNs);
  }
  for (const n of plan.nodes) {
    await ip(['netns', 'add', n.netns]);
    await ip(['link', 'set', 'lo', 'up'], n.netns);
    await plug(plan, n.netns, 'pub', `${n.name}-pub`, 'br-pub', n.pubAddr);
    await plug(plan, n.netns, 'mgmt', `${n.name}-mgmt`, 'br-mgmt', n.mgmtAddr);
  }
  await ip(['netns', 'add', plan.outsideNs]);
  await ip(['link', 'set', 'lo', 'up'], plan.outsideNs);
  await plug(plan, plan.outsideNs, 'pub', 'out-pub', 'br-pub', plan.outsideAddr);
  // The operator (this host) joins the management bridge only.
  await plug(plan, undefined, plan.operatorIf, 'op-mgmt', 'br-mgmt', plan.operatorAddr);
}

export async function destroyNetwork(plan: LabPlan): Promise<void> {
  await run(['ip', 'link', 'del', plan.operatorIf]);
  const existing = await listNetns();
  for (const ns of existing.filter((n) => n.startsWith(`${plan.prefix}-`))) await destroyNetns(ns);
}
