import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { confChecks } from '../../../src/fabric/audit.js';
import { makeRouteCert } from '../../../src/fabric/keys.js';
import { renderNatsConfig, renderNatsUnit, renderProxyService, renderProxySocket, ROUTER_PUBLISH_DENY, ROUTER_SUBJECTS, routerFabricSection } from '../../../src/fabric/render.js';
import { fabricSchema } from '../../../src/fabric/schema.js';
import { run } from '../../../src/util/exec.js';
import { makeOfflineRoot, securityExposure, verifyUnit } from '../../../src/systemd/units.js';
import { NATS_EXPOSURE_LIMIT } from '../../../src/fabric/audit.js';

const user = createUser().getPublicKey();
const input = {
  serverName: 'n1',
  clusterName: 'bulwark-lab',
  monitorPort: 8222,
  routeHost: '10.77.0.5',
  routePort: 6222,
  routes: ['10.77.0.9', '10.77.0.7'],
  tls: { cert: '/var/lib/bulwark-nats/route.crt', key: '/run/credentials/bulwark-nats.service/route.key', ca: '/var/lib/bulwark-nats/peers.pem' },
  users: [{ nkey: user, publish: ROUTER_SUBJECTS, subscribe: ROUTER_SUBJECTS, publishDeny: ROUTER_PUBLISH_DENY }],
  jetstream: { storeDir: '/var/lib/bulwark-nats/jetstream', maxMemoryStore: 1 << 28, maxFileStore: 1 << 30 },
};

describe('nats.conf', () => {
  const conf = renderNatsConfig(input);
  it('clients on 127.0.0.1:4222 only, monitoring on 127.0.0.1, routes on the mesh address', () => {
    expect(conf).toContain('listen: "127.0.0.1:4222"');
    expect(conf).toContain('http: "127.0.0.1:8222"');
    expect(conf).toContain('listen: "10.77.0.5:6222"');
    expect(conf.match(/listen:/g)).toHaveLength(2);
    expect(conf).not.toMatch(/0\.0\.0\.0|::/);
  });
  it('routes to every other member, sorted, over mutual TLS with verify', () => {
    expect(conf).toContain('routes: ["nats-route://10.77.0.7:6222", "nats-route://10.77.0.9:6222"]');
    expect(conf).toMatch(/tls \{[^}]*verify: true/);
    expect(conf).toMatch(/ca_file: "\/var\/lib\/bulwark-nats\/peers.pem"/);
  });
  it('nkey users only, limited subjects, no no_auth_user, no other listeners', () => {
    expect(conf).toContain(`nkey: "${user}"`);
    expect(conf).toContain('publish: { allow: ["bulwark.>", "_INBOX.>", "$JS.>", "$KV.>"], deny: ["$JS.API.ACCOUNT.PURGE.>", "$JS.API.SERVER.REMOVE",');
    expect(conf).not.toMatch(/no_auth_user|password|token|leafnodes|gateway|websocket|mqtt|accounts/);
    expect(conf).toContain('store_dir: "/var/lib/bulwark-nats/jetstream"');
  });
  it('no monitoring listener when the port is 0', () => {
    expect(renderNatsConfig({ ...input, monitorPort: 0 })).not.toContain('http:');
  });
  it('refuses values that could break out of a string, keys that are not nkey users, and no users at all', () => {
    expect(() => renderNatsConfig({ ...input, serverName: 'n1"\ninclude "/etc/x' })).toThrow(/unsafe/);
    expect(() => renderNatsConfig({ ...input, users: [{ ...input.users[0]!, nkey: 'SUAB' }] })).toThrow(/nkey/);
    expect(() => renderNatsConfig({ ...input, users: [] })).toThrow(/at least one/);
  });
  it('the audit reads the rendered config as passing, and a no_auth_user or a missing verify as failing', () => {
    expect(confChecks(conf).map((c) => c.status)).toEqual(['pass', 'pass', 'pass']);
    const bad = conf.replace('verify: true', 'verify: false').replace('authorization {', 'no_auth_user: "x"\nauthorization {');
    const byId = Object.fromEntries(confChecks(bad).map((c) => [c.id, c.status]));
    expect(byId).toEqual({ 'fabric.route-tls': 'fail', 'fabric.client-auth': 'fail', 'fabric.listeners': 'pass' });
    expect(confChecks(conf + 'leafnodes { listen: "0.0.0.0:7422" }\n').find((c) => c.id === 'fabric.listeners')?.status).toBe('fail');
  });
  it('nats-server itself accepts it (-t)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-natsconf-'));
    try {
      await makeRouteCert(join(dir, 'route.crt'), join(dir, 'route.key'), '10.77.0.5', 'n1');
      copyFileSync(join(dir, 'route.crt'), join(dir, 'peers.pem'));
      mkdirSync(join(dir, 'js'));
      const path = join(dir, 'nats.conf');
      writeFileSync(
        path,
        renderNatsConfig({ ...input, tls: { cert: join(dir, 'route.crt'), key: join(dir, 'route.key'), ca: join(dir, 'peers.pem') }, jetstream: { ...input.jetstream, storeDir: join(dir, 'js') } }),
      );
      const r = await run(['nats-server', '-t', '-c', path]);
      expect(`${r.stdout}${r.stderr}`).toMatch(/configuration file .* is valid/);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('router fabric section', () => {
  it('has the contract shape', () => {
    const f = fabricSchema.parse({});
    expect(routerFabricSection('n2', f, '/run/bulwark/fabric/nats.sock', '/etc/bulwark/fabric/router.nk')).toEqual({
      node: 'n2',
      nats: { url: 'nats://127.0.0.1:4222', socket: '/run/bulwark/fabric/nats.sock', nkeySeedFile: '/etc/bulwark/fabric/router.nk' },
      heartbeatMs: 500,
      deadAfterMs: 2000,
    });
  });
  it('schema: defaults, another binary, bad values', () => {
    expect(fabricSchema.parse({ natsServer: '/opt/nats/nats-server' }).natsServer).toBe('/opt/nats/nats-server');
    expect(fabricSchema.safeParse({ natsServer: 'nats-server' }).success).toBe(false);
    expect(fabricSchema.safeParse({ routePort: 4222 }).success).toBe(false);
    expect(fabricSchema.safeParse({ heartbeatMs: 3000, deadAfterMs: 2000 }).success).toBe(false);
  });
});

describe('fabric units', () => {
  const unit = renderNatsUnit({
    natsServer: '/usr/sbin/nats-server',
    confPath: '/var/lib/bulwark-nats/nats.conf',
    routeKey: '/var/lib/bulwark/fabric/route.key',
    stateDirectory: 'bulwark-nats/jetstream',
    meshCidr: '10.77.0.0/16',
  });
  it('runs the configured binary as nats, sandboxed, with the key as a credential and only loopback and the mesh reachable', () => {
    expect(unit).toContain('ExecStart=/usr/sbin/nats-server -c /var/lib/bulwark-nats/nats.conf');
    expect(unit).toContain('User=nats');
    expect(unit).toContain('ProtectSystem=strict');
    expect(unit).toContain('LoadCredential=route.key:/var/lib/bulwark/fabric/route.key');
    expect(unit).toContain('ExecReload=/bin/kill -HUP $MAINPID');
    expect(unit).toMatch(/IPAddressDeny=any\nIPAddressAllow=localhost\nIPAddressAllow=10\.77\.0\.0\/16/);
  });
  it('systemd-analyze: verify is clean and the exposure stays under the audit limit', async () => {
    const src = mkdtempSync(join(tmpdir(), 'bulwark-fabric-units-'));
    writeFileSync(join(src, 'bulwark-nats.service'), unit);
    writeFileSync(join(src, 'bulwark-nats-proxy.socket'), renderProxySocket('/run/bulwark/fabric/nats.sock'));
    writeFileSync(join(src, 'bulwark-nats-proxy.service'), renderProxyService());
    const names = ['bulwark-nats.service', 'bulwark-nats-proxy.socket', 'bulwark-nats-proxy.service'];
    const root = makeOfflineRoot(names, src, { stubBinaries: ['/usr/sbin/nats-server', '/lib/systemd/systemd-socket-proxyd', '/usr/lib/systemd/systemd-socket-proxyd', '/bin/kill', '/usr/bin/kill'] });
    try {
      for (const u of names) expect((await verifyUnit(root.root, u)).findings, u).toEqual([]);
      const scores = await securityExposure(['bulwark-nats.service', 'bulwark-nats-proxy.service'], root.root);
      const nats = scores.get('bulwark-nats.service');
      expect(nats?.score).toBeDefined();
      expect(nats?.score).toBeLessThanOrEqual(NATS_EXPOSURE_LIMIT);
      expect(scores.get('bulwark-nats-proxy.service')?.score).toBeLessThanOrEqual(NATS_EXPOSURE_LIMIT);
    } finally {
      root.cleanup();
      rmSync(src, { recursive: true, force: true });
    }
  });
});
