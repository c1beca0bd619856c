import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { continueAfter, decideAfterSwitch, decideStart, exitFor, HEALTH_SCRIPT, judgeHealth, parseHealth, upgradeOrder, type HealthFacts } from '../../../src/provision/upgrade-plan.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const mesh = (peers: object[]) => JSON.stringify({ nodes: [{ node: 'n1', up: true, peers }] });

/** What HEALTH_SCRIPT prints on a healthy node of a three-node cluster with one app. */
function output(over: Record<string, string> = {}, apps = ['app=echo active']): string {
  const kv: Record<string, string> = {
    runtime_sha256: SHA_A,
    runtime_version: '0.1.0',
    current: 'releases/aaaaaaaaaaaaaaaa',
    previous: '',
    agent_ActiveState: 'active',
    agent_SubState: 'running',
    agent_NRestarts: '0',
    agent_MainPID: '812',
    agent_StatusText: '5 capabilities reconciled, no drift',
    agent_exe: '/opt/bulwark/releases/aaaaaaaaaaaaaaaa/node',
    agent_rss_kib: '61234',
    router_installed: '1',
    router_active: 'active',
    router_image_wanted: 'sha256:1111',
    router_image_running: 'sha256:1111',
    router_answer: 'HTTP/1.1 426 Upgrade Required',
    mesh_json: mesh([
      { name: 'n2', handshakeAgeSec: 12, reachable: true, present: true },
      { name: 'n3', handshakeAgeSec: 40, reachable: true, present: true },
    ]),
    mesh_error: '',
    ...over,
  };
  return [...Object.entries(kv).map(([k, v]) => `${k}=${v}`), ...apps].join('\n') + '\n';
}
const facts = (over: Record<string, string> = {}, apps?: string[]): HealthFacts => parseHealth(output(over, apps));

describe('upgrade health facts', () => {
  it('the script is valid shell', () => {
    execFileSync('bash', ['-n'], { input: HEALTH_SCRIPT });
  });

  it('parses every fact the script prints', () => {
    const f = facts();
    expect(f.runtimeSha256).toBe(SHA_A);
    expect(f.agent).toEqual({
      active: 'active',
      sub: 'running',
      nRestarts: 0,
      mainPid: 812,
      statusText: '5 capabilities reconciled, no drift',
      exe: '/opt/bulwark/releases/aaaaaaaaaaaaaaaa/node',
      rssKiB: 61234,
    });
    expect(f.router).toEqual({ installed: true, active: 'active', answer: 'HTTP/1.1 426 Upgrade Required', imageWanted: 'sha256:1111', imageRunning: 'sha256:1111' });
    expect(f.apps).toEqual([{ name: 'echo', state: 'active' }]);
    expect(f.mesh?.peers.map((p) => p.name)).toEqual(['n2', 'n3']);
  });

  it('a healthy node is healthy, for the release it runs from', () => {
    expect(judgeHealth(facts(), { release: 'releases/aaaaaaaaaaaaaaaa' })).toEqual({ healthy: true, problems: [], hopeless: false });
  });

  it.each([
    [{ agent_StatusText: '5 capabilities reconciled, no drift, 1 failing: firewall' }, 'agent reports firewall failing'],
    [{ agent_StatusText: 'starting' }, 'agent has not finished a pass (starting)'],
    [{ agent_ActiveState: 'activating', agent_SubState: 'auto-restart' }, 'agent activating (auto-restart)'],
    [{ router_active: 'failed' }, 'router failed'],
    [{ router_answer: 'error ECONNREFUSED' }, 'router does not answer on 443 (error ECONNREFUSED)'],
    [{ router_answer: 'timeout' }, 'router does not answer on 443 (timeout)'],
    [{ router_image_running: 'sha256:0000' }, 'router still runs an older image'],
    [{ mesh_json: mesh([{ name: 'n2', handshakeAgeSec: null, reachable: false }]) }, 'no mesh handshake with n2'],
    [{ mesh_json: mesh([{ name: 'n2', handshakeAgeSec: 900, reachable: true }]) }, 'last mesh handshake with n2 900 s ago'],
    [{ mesh_json: mesh([{ name: 'n3', handshakeAgeSec: 5, reachable: false }]) }, 'n3 unreachable over the mesh'],
    [{ mesh_json: '', mesh_error: 'node.js: cannot find module' }, 'mesh status unavailable: node.js: cannot find module'],
  ])('names what is wrong: %j', (over, problem) => {
    const v = judgeHealth(facts(over));
    expect(v.healthy).toBe(false);
    expect(v.problems).toContain(problem);
    expect(v.hopeless).toBe(false);
  });

  it('a JSON log line on stderr is reduced to its message', () => {
    const err =
      '{"level":50,"name":"bulwark","err":{"type":"Error","message":"node n1 is not a mesh member","stack":"Error: node n1 is not a mesh member\\n    at desiredInterface (file:///opt/bulwark/releases/9188/chunks/chunk-6.mjs:36:18)';
    expect(judgeHealth(facts({ mesh_json: '', mesh_error: err })).problems).toEqual(['mesh status unavailable: node n1 is not a mesh member']);
  });

  it('an app unit that is not active, or an agent running the wrong release, is unhealthy', () => {
    expect(judgeHealth(facts({}, ['app=echo activating', 'app=other active'])).problems).toEqual(['app echo activating']);
    expect(judgeHealth(facts(), { release: 'releases/bbbbbbbbbbbbbbbb' }).problems).toEqual(['agent still runs /opt/bulwark/releases/aaaaaaaaaaaaaaaa/node, not releases/bbbbbbbbbbbbbbbb']);
  });

  it('a node without router or mesh peers needs neither', () => {
    const f = facts({ router_installed: '', router_answer: '', mesh_json: mesh([]) });
    expect(judgeHealth(f).healthy).toBe(true);
  });

  it('an agent that gave up (failed) or keeps being restarted is hopeless: no point waiting', () => {
    expect(judgeHealth(facts({ agent_ActiveState: 'failed', agent_SubState: 'failed' })).hopeless).toBe(true);
    expect(judgeHealth(facts({ agent_ActiveState: 'activating', agent_NRestarts: '4' })).hopeless).toBe(true);
    expect(judgeHealth(facts({ agent_ActiveState: 'activating', agent_NRestarts: '1' })).hopeless).toBe(false);
  });
});

describe('upgrade decisions', () => {
  it('same runtime: skip with "already at"; healthy: upgrade; unhealthy or not bootstrapped: refuse, nothing changed', () => {
    expect(decideStart(facts(), SHA_A, '0.1.0')).toEqual({ action: 'skip', reason: 'already at 0.1.0 (aaaaaaaaaaaa)' });
    expect(decideStart(facts(), SHA_B, '0.2.0')).toEqual({ action: 'upgrade' });
    const bad = decideStart(facts({ router_active: 'failed' }), SHA_B, '0.2.0');
    expect(bad).toEqual({ action: 'refuse', reason: 'not healthy before the upgrade (router failed); nothing was changed' });
    expect(decideStart(facts({ runtime_sha256: '' }), SHA_B, '0.2.0').action).toBe('refuse');
  });

  it('after a switch: healthy ends it; problems wait until the timeout, then roll back with the reason; hopeless rolls back at once', () => {
    const sick = judgeHealth(facts({ router_answer: 'timeout' }));
    expect(decideAfterSwitch(judgeHealth(facts()), 1_000, 60_000)).toEqual({ action: 'healthy' });
    expect(decideAfterSwitch(sick, 59_000, 60_000)).toEqual({ action: 'wait', problems: ['router does not answer on 443 (timeout)'] });
    expect(decideAfterSwitch(sick, 60_000, 60_000)).toEqual({ action: 'rollback', reason: 'not healthy within 60 s: router does not answer on 443 (timeout)' });
    const dead = judgeHealth(facts({ agent_ActiveState: 'failed', agent_SubState: 'failed', agent_NRestarts: '10' }));
    expect(decideAfterSwitch(dead, 3_000, 60_000)).toEqual({ action: 'rollback', reason: 'agent failed (failed), restarted 10×; agent restarted by systemd 10× since the switch' });
  });

  it('order is the config order, whatever order the nodes were named in', () => {
    const cfg = [{ name: 'n1' }, { name: 'n2' }, { name: 'n3' }];
    expect(upgradeOrder(cfg, ['n3', 'n1']).map((n) => n.name)).toEqual(['n1', 'n3']);
  });

  it('goes on only after a node ends at the target; exit 0 only when all are, else 3', () => {
    expect(continueAfter({ node: 'n1', result: 'upgraded', from: 'a', to: 'b', seconds: 1 })).toBe(true);
    expect(continueAfter({ node: 'n1', result: 'already', version: 'b' })).toBe(true);
    expect(continueAfter({ node: 'n1', result: 'rolled-back', reason: 'x', restored: true })).toBe(false);
    expect(continueAfter({ node: 'n1', result: 'refused', reason: 'x' })).toBe(false);
    expect(
      exitFor([
        { node: 'n1', result: 'upgraded', from: 'a', to: 'b', seconds: 1 },
        { node: 'n2', result: 'already', version: 'b' },
      ]),
    ).toBe(0);
    expect(
      exitFor([
        { node: 'n1', result: 'rolled-back', reason: 'x', restored: true },
        { node: 'n2', result: 'untouched', reason: 'y' },
      ]),
    ).toBe(3);
  });
});
