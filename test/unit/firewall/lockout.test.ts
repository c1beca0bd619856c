import { describe, expect, it } from 'vitest';
import { decideRollback, parseDuration } from '../../../src/firewall/confirm.js';
import { bootstrapGuard, checkSshPath, configLockout, parseSshConnection } from '../../../src/firewall/lockout.js';
import { STARTER } from '../../../src/config/starter.js';
import { factsFromConfig, parseMeshMembers, parseResolvConf, uidOf } from '../../../src/firewall/node-facts.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { parseConfig } from '../../../src/config/index.js';

const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [] };

describe('lockout guard', () => {
  it('parses $SSH_CONNECTION', () => {
    expect(parseSshConnection('198.51.100.1 53422 198.51.100.11 22')).toEqual({ clientAddr: '198.51.100.1', localPort: 22 });
    expect(parseSshConnection('::ffff:198.51.100.1 53422 ::ffff:198.51.100.11 2222')).toEqual({ clientAddr: '198.51.100.1', localPort: 2222 });
    expect(parseSshConnection(undefined)).toBeUndefined();
    expect(parseSshConnection('garbage')).toBeUndefined();
  });
  it('refuses a plan that closes SSH to the client the command runs from', () => {
    const path = parseSshConnection('198.51.100.1 53422 198.51.100.11 22');
    expect(checkSshPath(planFirewall({}, FACTS), path).ok).toBe(false);
    expect(checkSshPath(planFirewall({ managementNetworks: ['203.0.113.0/24'] }, FACTS), path).ok).toBe(false);
    expect(checkSshPath(planFirewall({ managementNetworks: ['198.51.100.0/24'] }, FACTS), path).ok).toBe(true);
    expect(checkSshPath(planFirewall({ managementNetworks: ['198.51.100.0/24'], ssh: { port: 2222 } }, FACTS), path).ok).toBe(false);
    expect(checkSshPath(planFirewall({ ssh: { fromAnywhere: true } }, FACTS), path).ok).toBe(true);
    expect(checkSshPath(planFirewall({ inbound: [{ name: 'alt', proto: 'tcp', ports: ['20-30'], from: ['198.51.100.1'] }] }, FACTS), path).ok).toBe(true);
    expect(checkSshPath(planFirewall({}, FACTS), undefined)).toEqual({ ok: true, reason: 'not running over SSH' });
    const refused = checkSshPath(planFirewall({}, FACTS), path);
    expect(refused.reason).toMatch(/198\.51\.100\.1 to port 22.*firewall\.managementNetworks/);
  });
});

// Bootstrap and `firewall apply` ask the same guard (bootstrap with the plan the config will give the node).
describe('one lockout guard for bootstrap and firewall apply', () => {
  const withFw = (fw: string) => parseConfig(STARTER.replace(/firewall:\n( {2}.*\n|\s*#.*\n)*/, `firewall:\n${fw}\n`));
  const starter = parseConfig(STARTER);
  const refuses = (cfg: ReturnType<typeof parseConfig>, conn: string) => bootstrapGuard.check(cfg, 'n1', conn);
  it('lets a management network in, refuses anywhere else, names the address', () => {
    expect(refuses(starter, '198.51.100.1 50000 198.51.100.11 22')).toBeUndefined();
    expect(refuses(starter, '203.0.113.9 50000 198.51.100.11 22')).toMatch(/refuse new SSH connections from 203\.0\.113\.9 to port 22.*lock out this machine.*managementNetworks/);
    expect(refuses(withFw('  managementNetworks: []'), '198.51.100.1 5 198.51.100.11 22')).toMatch(/from 198\.51\.100\.1 to port 22/);
  });
  it('fromAnywhere, a disabled firewall, or no SSH session: nothing to guard', () => {
    expect(refuses(withFw('  ssh: { fromAnywhere: true }'), '203.0.113.9 5 198.51.100.11 22')).toBeUndefined();
    expect(refuses(withFw('  enabled: false'), '203.0.113.9 5 198.51.100.11 22')).toBeUndefined();
    expect(refuses(starter, '')).toBeUndefined();
  });
  it('a session on another port than firewall.ssh.port is refused', () => {
    expect(refuses(starter, '198.51.100.1 5 198.51.100.11 2222')).toMatch(/to port 2222/);
  });
  // Where the two guards used to disagree, the plan decides for both.
  it('an inbound rule that admits the client to the SSH port is enough (bootstrap used to refuse it)', () => {
    const cfg = withFw("  managementNetworks: []\n  inbound: [{ name: ops, proto: tcp, ports: ['22-22'], from: ['203.0.113.9'] }]");
    expect(refuses(cfg, '203.0.113.9 5 192.0.2.11 22')).toBeUndefined();
    expect(configLockout(cfg, 'n1', '203.0.113.9 5 192.0.2.11 22').reason).toMatch(/accepted by/);
    expect(refuses(cfg, '203.0.113.10 5 192.0.2.11 22')).toBeDefined();
  });
  it('an IPv4-mapped client address is the IPv4 address; an unreadable $SSH_CONNECTION is no SSH path (as for apply)', () => {
    expect(refuses(starter, '::ffff:198.51.100.1 5 ::ffff:198.51.100.11 22')).toBeUndefined();
    expect(refuses(starter, '::ffff:203.0.113.9 5 ::ffff:198.51.100.11 22')).toMatch(/from 203\.0\.113\.9/);
    expect(configLockout(starter, 'n1', '203.0.113.9 5')).toEqual({ ok: true, reason: 'not running over SSH' });
  });
  it('bootstrap and apply give the same verdict for the same plan and path', () => {
    for (const conn of ['198.51.100.1 5 198.51.100.11 22', '203.0.113.9 5 198.51.100.11 22', '198.51.100.1 5 198.51.100.11 2222']) {
      const apply = checkSshPath(planFirewall(starter.firewall, factsFromConfig(starter, 'n1', { resolvers: [] })), parseSshConnection(conn));
      expect(configLockout(starter, 'n1', conn)).toEqual(apply);
    }
  });
});

describe('confirm or roll back', () => {
  const p = { token: 'abc', deadline: 10_000, appliedAt: 0 };
  it('decides', () => {
    expect(decideRollback(p, 'abc', 9_999)).toBe('wait');
    expect(decideRollback(p, 'abc', 10_000)).toBe('rollback');
    expect(decideRollback(null, 'abc', 20_000)).toBe('nothing-pending');
    expect(decideRollback(p, 'zzz', 20_000)).toBe('superseded');
  });
  it('parses durations', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('90')).toBe(90_000);
    expect(() => parseDuration('0s')).toThrow();
    expect(() => parseDuration('soon')).toThrow();
  });
});

describe('node facts', () => {
  it('reads resolvers and the _apt uid', () => {
    expect(parseResolvConf('# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch lan\nnameserver 192.0.2.53\n')).toEqual(['192.0.2.53', 'fe80::1']);
    expect(uidOf('root:x:0:0::/root:/bin/sh\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n', '_apt')).toBe(42);
  });
  it('derives peers and mesh facts from the cluster config', () => {
    const cfg = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}\n');
    const f = factsFromConfig(cfg, 'n1', { resolvers: ['192.0.2.53'], aptUid: 42 });
    expect(f.peers).toEqual([{ name: 'n2', endpoint: '192.0.2.12' }]);
    expect(f.self.endpoint).toBe('192.0.2.11');
    expect(f.wgPort).toBe(cfg.mesh.port);
    expect(f.meshPort).toBe(cfg.mesh.agentPort);
    expect(planFirewall(cfg.firewall, f).rules.some((r) => r.comment === 'out-apt-http')).toBe(true);
    expect(planFirewall(cfg.firewall, f).rules.some((r) => r.comment === 'in-http-redirect')).toBe(false);
  });
  it('once the node is in the mesh, its member list decides the WireGuard peers (a removed node is closed out)', () => {
    const cfg = parseConfig(
      'cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}\n  - {name: n3, ssh: root@198.51.100.13, endpoint: 192.0.2.13}\n',
    );
    const members = parseMeshMembers(
      JSON.stringify([
        { name: 'n1', endpoint: '192.0.2.11', publicKey: 'x' },
        { name: 'n2', endpoint: '192.0.2.12', publicKey: 'y' },
      ]),
    );
    expect(members).toEqual([
      { name: 'n1', endpoint: '192.0.2.11' },
      { name: 'n2', endpoint: '192.0.2.12' },
    ]);
    expect(factsFromConfig(cfg, 'n1', { resolvers: [], meshMembers: members }).peers).toEqual([{ name: 'n2', endpoint: '192.0.2.12' }]);
    expect(factsFromConfig(cfg, 'n1', { resolvers: [] }).peers?.map((p) => p.name)).toEqual(['n2', 'n3']);
    expect(parseMeshMembers('not json')).toBeUndefined();
  });
  it('opens 80 when the router has a redirect listener', () => {
    const cfg = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\nrouter:\n  listeners:\n    - {type: redirect, port: 80}\n');
    const f = factsFromConfig(cfg, 'n1', { resolvers: [] });
    expect(f.httpRedirect).toBe(true);
    expect(planFirewall(cfg.firewall, f).rules.some((r) => r.comment === 'in-http-redirect')).toBe(true);
  });
});
