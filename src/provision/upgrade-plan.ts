/**
 * `bulwark upgrade`, the pure part: what to ask a node (HEALTH_SCRIPT), what its answer means
 * (parseHealth, judgeHealth), and what to do next (decideStart, decideAfterSwitch, decideAfterRollback).
 * The effects (SSH, upload, switch, restart) are upgrade.ts.
 */
import { shQuote } from '../remote/ssh.js';
import { RELEASE_LAYOUT, layoutFactsScript } from './releases.js';

/** A peer as `bulwark mesh status --json` reports it. */
export interface MeshPeerFact {
  name: string;
  handshakeAgeSec: number | null;
  reachable: boolean;
  present?: boolean;
}

export interface HealthFacts {
  runtimeSha256: string;
  runtimeVersion: string;
  /** releases/ID that `current` and `previous` name ('' when absent). */
  current: string;
  previous: string;
  agent: {
    active: string;
    sub: string;
    nRestarts: number;
    mainPid: number;
    statusText: string;
    /** The running agent's executable, resolved (so: which release it runs from). */
    exe: string;
    rssKiB: number | null;
  };
  router: {
    /** bulwark-router.service is installed on the node (the agent installs it once podman is there). */
    installed: boolean;
    active: string;
    /** First line of the answer to an HTTPS request on 127.0.0.1:443, or the error. */
    answer: string;
    /** The image router.env names and the one the running container was made from. */
    imageWanted: string;
    imageRunning: string;
  };
  apps: { name: string; state: string }[];
  /** null when the node printed nothing usable for the mesh (the CLI failed). */
  mesh: { up: boolean; peers: MeshPeerFact[] } | null;
  meshError: string;
}

const L = RELEASE_LAYOUT;

/** TLS connect to the router on 443 and one HTTP request; prints the status line or the error. */
const ROUTER_PROBE = [
  "const t=require('tls');let b='';const done=(m)=>{console.log(String(m).split('\\r\\n')[0].slice(0,200));process.exit(0)};",
  "const s=t.connect({host:'127.0.0.1',port:443,rejectUnauthorized:false,servername:'localhost'},()=>s.write('GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n'));",
  "s.setTimeout(5000,()=>done('timeout'));s.on('data',(d)=>{b+=d;if(b.includes('\\r\\n'))done(b)});s.on('error',(e)=>done('error '+e.code));s.on('end',()=>done(b||'closed'))",
].join('');

/** Run as root on a node; prints key=value lines that parseHealth reads. */
export const HEALTH_SCRIPT = [
  layoutFactsScript(L),
  'systemctl show -p ActiveState -p SubState -p NRestarts -p MainPID -p StatusText bulwark-agent 2>/dev/null | sed "s/^/agent_/"',
  'pid=$(systemctl show -p MainPID --value bulwark-agent 2>/dev/null)',
  'if [ -n "$pid" ] && [ "$pid" != 0 ]; then echo "agent_exe=$(readlink /proc/$pid/exe)"; echo "agent_rss_kib=$(awk \'/^VmRSS:/{print $2}\' /proc/$pid/status 2>/dev/null)"; fi',
  'if [ -f /etc/systemd/system/bulwark-router.service ]; then',
  '  echo router_installed=1',
  '  echo "router_active=$(systemctl is-active bulwark-router 2>/dev/null)"',
  '  echo "router_image_wanted=$(. /etc/bulwark/router.env 2>/dev/null; echo "$BULWARK_ROUTER_IMAGE")"',
  '  echo "router_image_running=$(podman inspect --type container --format \'{{.Image}}\' bulwark-router 2>/dev/null)"',
  `  echo "router_answer=$(timeout 10 ${L.link}/node -e ${shQuote(ROUTER_PROBE)} 2>&1 | head -n 1)"`,
  'fi',
  'for f in /etc/bulwark/apps/*.env; do [ -f "$f" ] || continue; a=$(basename "$f" .env)',
  '  s=$(systemctl is-active "bulwark-app@$a" 2>/dev/null); [ "$s" = active ] || { d=$(systemctl is-active "bulwark-app-docker@$a" 2>/dev/null); [ "$d" = active ] && s=active; }',
  '  echo "app=$a $s"; done',
  `e=$(mktemp); m=$(timeout 20 ${L.wrapper} mesh status --json 2>"$e" | tr -d '\\n'); echo "mesh_json=$m"`,
  'echo "mesh_error=$(head -c 300 "$e" | tr -d \'\\n\')"; rm -f "$e"',
  'true',
].join('\n');

/** The message of a JSON log line the CLI printed on stderr (else the text as it is). Pure. */
function logMessage(text: string): string {
  const m = /"message":"((?:[^"\\]|\\.)*)"/.exec(text) ?? /"msg":"((?:[^"\\]|\\.)*)"/.exec(text);
  return m?.[1] ?? text;
}

/** Reads HEALTH_SCRIPT's output. Pure. */
export function parseHealth(text: string): HealthFacts {
  const kv = new Map<string, string>();
  const apps: { name: string; state: string }[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1).trim();
    if (k === 'app') {
      const [name = '', state = ''] = v.split(' ');
      if (name) apps.push({ name, state: state || 'unknown' });
    } else kv.set(k, v);
  }
  const g = (k: string) => kv.get(k) ?? '';
  const num = (k: string): number | null => (kv.has(k) && g(k) !== '' && Number.isFinite(Number(g(k))) ? Number(g(k)) : null);
  let mesh: HealthFacts['mesh'] = null;
  try {
    const j = JSON.parse(g('mesh_json')) as { nodes?: { up?: unknown; peers?: { name?: unknown; handshakeAgeSec?: unknown; reachable?: unknown; present?: unknown }[] }[] };
    const n = j.nodes?.[0];
    if (n)
      mesh = {
        up: n.up === true,
        peers: (n.peers ?? []).map((p) => ({
          name: String(p.name ?? '?'),
          handshakeAgeSec: typeof p.handshakeAgeSec === 'number' ? p.handshakeAgeSec : null,
          reachable: p.reachable === true,
          present: p.present === true,
        })),
      };
  } catch {
    mesh = null;
  }
  return {
    runtimeSha256: g('runtime_sha256'),
    runtimeVersion: g('runtime_version'),
    current: g('current'),
    previous: g('previous'),
    agent: {
      active: g('agent_ActiveState') || 'unknown',
      sub: g('agent_SubState'),
      nRestarts: num('agent_NRestarts') ?? 0,
      mainPid: num('agent_MainPID') ?? 0,
      statusText: g('agent_StatusText'),
      exe: g('agent_exe'),
      rssKiB: num('agent_rss_kib'),
    },
    router: { installed: g('router_installed') === '1', active: g('router_active'), answer: g('router_answer'), imageWanted: g('router_image_wanted'), imageRunning: g('router_image_running') },
    apps,
    mesh,
    meshError: logMessage(g('mesh_error')),
  };
}

export interface HealthVerdict {
  healthy: boolean;
  /** Each thing that is not (yet) as it should be, in words. */
  problems: string[];
  /** The node cannot become healthy by waiting (the agent gave up starting, or keeps dying). */
  hopeless: boolean;
}

export interface HealthExpectations {
  /** The release the agent must run from (releases/ID), when known. */
  release?: string;
  /** Newest mesh handshake a peer must have had (seconds). */
  maxHandshakeAgeSec?: number;
  /** The agent restarted by itself this often since the switch: it is crashing. */
  maxRestarts?: number;
}

/**
 * The node is healthy when: the agent is active and its last pass reports no capability failing (the
 * rule bootstrap applies), and it runs from the expected release; every mesh peer has a recent handshake
 * and answers a ping over bw0; the router (where installed) is active, runs the image built for it and
 * answers an HTTPS request; every app unit is active. Pure.
 */
export function judgeHealth(f: HealthFacts, e: HealthExpectations = {}): HealthVerdict {
  const problems: string[] = [];
  let hopeless = false;
  const a = f.agent;
  if (a.active !== 'active') {
    problems.push(`agent ${a.active}${a.sub ? ` (${a.sub})` : ''}${a.nRestarts ? `, restarted ${a.nRestarts}×` : ''}`);
    if (a.active === 'failed') hopeless = true;
  } else if (!/reconciled/.test(a.statusText)) problems.push(`agent has not finished a pass (${a.statusText || 'no status'})`);
  else {
    const failing = /\d+ failing: (.+)$/.exec(a.statusText);
    if (failing) problems.push(`agent reports ${failing[1]} failing`);
  }
  if (a.nRestarts >= (e.maxRestarts ?? 3)) {
    problems.push(`agent restarted by systemd ${a.nRestarts}× since the switch`);
    hopeless = true;
  }
  if (e.release && a.active === 'active' && a.exe && !a.exe.includes(`/${e.release}/`)) problems.push(`agent still runs ${a.exe}, not ${e.release}`);
  if (!f.mesh) problems.push(`mesh status unavailable${f.meshError ? `: ${f.meshError}` : ''}`);
  else {
    if (!f.mesh.up && f.mesh.peers.length) problems.push('mesh interface down');
    const maxAge = e.maxHandshakeAgeSec ?? 300;
    for (const p of f.mesh.peers) {
      if (p.handshakeAgeSec === null) problems.push(`no mesh handshake with ${p.name}`);
      else if (p.handshakeAgeSec > maxAge) problems.push(`last mesh handshake with ${p.name} ${p.handshakeAgeSec} s ago`);
      if (!p.reachable) problems.push(`${p.name} unreachable over the mesh`);
    }
  }
  if (f.router.installed) {
    if (f.router.active !== 'active') problems.push(`router ${f.router.active || 'unknown'}`);
    else if (f.router.imageWanted && f.router.imageRunning && f.router.imageWanted !== f.router.imageRunning) problems.push('router still runs an older image');
    if (!/^HTTP\/1\.[01] \d{3}/.test(f.router.answer)) problems.push(`router does not answer on 443 (${f.router.answer || 'no answer'})`);
  }
  for (const app of f.apps) if (app.state !== 'active') problems.push(`app ${app.name} ${app.state}`);
  return { healthy: problems.length === 0, problems, hopeless };
}

export type StartDecision = { action: 'skip'; reason: string } | { action: 'upgrade' } | { action: 'refuse'; reason: string };

/** Before touching a node: already there, fit to be upgraded, or not healthy to begin with. Pure. */
export function decideStart(f: HealthFacts, targetSha256: string, targetVersion: string): StartDecision {
  if (f.runtimeSha256 === targetSha256) return { action: 'skip', reason: `already at ${targetVersion} (${targetSha256.slice(0, 12)})` };
  if (!f.runtimeSha256) return { action: 'refuse', reason: 'no Bulwark runtime on the node: run bulwark bootstrap first' };
  const v = judgeHealth(f);
  if (!v.healthy) return { action: 'refuse', reason: `not healthy before the upgrade (${v.problems.join('; ')}); nothing was changed` };
  return { action: 'upgrade' };
}

export type WaitDecision = { action: 'healthy' } | { action: 'wait'; problems: string[] } | { action: 'rollback'; reason: string };

/** After a switch (or a rollback), each time the facts come in: done, wait on, or give up. Pure. */
export function decideAfterSwitch(v: HealthVerdict, elapsedMs: number, timeoutMs: number): WaitDecision {
  if (v.healthy) return { action: 'healthy' };
  if (v.hopeless) return { action: 'rollback', reason: v.problems.join('; ') };
  if (elapsedMs >= timeoutMs) return { action: 'rollback', reason: `not healthy within ${Math.round(timeoutMs / 1000)} s: ${v.problems.join('; ')}` };
  return { action: 'wait', problems: v.problems };
}

/**
 * The order nodes are upgraded in: the config's order (the operator's), one at a time. A node that is
 * named twice goes once. Pure.
 */
export function upgradeOrder<T extends { name: string }>(configured: readonly T[], selected: readonly string[]): T[] {
  const want = new Set(selected);
  return configured.filter((n) => want.has(n.name));
}

export type NodeOutcome =
  | { node: string; result: 'upgraded'; from: string; to: string; seconds: number }
  | { node: string; result: 'already'; version: string }
  | { node: string; result: 'rolled-back'; reason: string; restored: boolean; restoreProblems?: string[] }
  | { node: string; result: 'refused'; reason: string }
  | { node: string; result: 'failed'; reason: string }
  | { node: string; result: 'untouched'; reason: string };

/** Whether to go on to the next node after this outcome. Pure. */
export function continueAfter(o: NodeOutcome): boolean {
  return o.result === 'upgraded' || o.result === 'already';
}

/** Exit code for the run: 0 when every node is at the target, 3 otherwise. Pure. */
export function exitFor(outcomes: readonly NodeOutcome[]): 0 | 3 {
  return outcomes.every((o) => o.result === 'upgraded' || o.result === 'already') ? 0 : 3;
}
