import { describe, expect, it } from 'vitest';
import { decideRollback, parseDuration } from '../../../src/firewall/confirm.js';
import { checkSshPath, parseSshConnection } from '../../../src/firewall/lockout.js';
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
    expect(refused.reason).toMatch(/198\.51\.100\.1 to port 22.*--force/);
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
    const cfg = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n  - {name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12}\n  - {name: n3, ssh: root@198.51.100.13, endpoint: 192.0.2.13}\n');
    const members = parseMeshMembers(JSON.stringify([{ name: 'n1', endpoint: '192.0.2.11', publicKey: 'x' }, { name: 'n2', endpoint: '192.0.2.12', publicKey: 'y' }]));
    expect(members).toEqual([{ name: 'n1', endpoint: '192.0.2.11' }, { name: 'n2', endpoint: '192.0.2.12' }]);
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
