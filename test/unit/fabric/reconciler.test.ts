import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { makeRouteCert } from '../../../src/fabric/keys.js';
import type { FabricPaths } from '../../../src/fabric/paths.js';
import { createFabricReconciler } from '../../../src/fabric/reconciler.js';
import { allocateAddresses } from '../../../src/mesh/addresses.js';
import { Systemctl, type UnitAction } from '../../../src/systemd/systemctl.js';
import type { ExecResult } from '../../../src/util/exec.js';

// The reconciler's decisions on a temporary root: which files it renders from the member list and what it
// asks systemd to do (recorded; the live reload itself is exercised with real nats-server in
// test/integration/fabric and on the lab).
class RecordingSystemctl extends Systemctl {
  calls: string[] = [];
  active = new Set<string>();
  override async act(action: UnitAction, units: readonly string[], opts: { now?: boolean } = {}): Promise<void> {
    this.calls.push(`${action}${opts.now ? ' --now' : ''} ${units.join(' ')}`);
    for (const u of units) {
      if (action === 'start' || action === 'restart') this.active.add(u);
      if (action === 'disable' && opts.now) this.active.delete(u);
    }
  }
  override async isActive(unit: string): Promise<boolean> {
    return this.active.has(unit);
  }
  override async daemonReload(): Promise<void> {
    this.calls.push('daemon-reload');
  }
  override async raw(args: readonly string[]): Promise<ExecResult> {
    this.calls.push(args.join(' '));
    return { code: 0, stdout: args[0] === 'is-enabled' ? 'masked\n' : '', stderr: '' };
  }
}

const root = mkdtempSync(join(tmpdir(), 'bulwark-fabric-rec-'));
mkdirSync(join(root, 'units'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const p = (f: string) => join(root, f);
const paths: FabricPaths = {
  etcDir: p('etc'),
  routerSection: p('etc/router.json'),
  routerSeed: p('etc/router.nk'),
  stateDir: p('state'),
  natsDir: p('nats'),
  natsConf: p('nats/nats.conf'),
  routeCert: p('nats/route.crt'),
  routeKey: p('state/route.key'),
  peersBundle: p('nats/peers.pem'),
  peersDir: p('state/peers'),
  routesFile: p('state/routes.json'),
  jetstreamDir: '/var/lib/bulwark-nats/jetstream',
  socketDir: p('run'),
  socket: p('run/nats.sock'),
  routeKeyForServer: '/run/credentials/bulwark-nats.service/route.key',
  unitDir: p('units'),
};
const config = configSchema.parse({
  cluster: 'lab',
  nodes: ['n1', 'n2', 'n3'].map((n, i) => ({ name: n, ssh: `root@192.0.2.1${i + 1}`, endpoint: `192.0.2.1${i + 1}` })),
  mesh: { cidr: '10.77.0.0/24' },
});
const addrs = allocateAddresses('10.77.0.0/24', ['n1', 'n2', 'n3']);
const members = p('members.json');
const setMembers = (names: string[]) => writeFileSync(members, JSON.stringify(names.map((name) => ({ name }))));
const sc = new RecordingSystemctl();
let routeChanges = 0;
const rec = createFabricReconciler({
  addresses: allocateAddresses,
  paths,
  systemctl: sc,
  membersFile: members,
  hasAddress: () => true,
  afterRoutesChanged: async () => {
    routeChanges++;
  },
});
const ctx = { config, nodeName: 'n1', log: pino({ level: 'silent' }) };
const pass = async () => {
  sc.calls = [];
  const r = await rec.reconcile(ctx);
  expect(r.error).toBeUndefined();
  return r;
};
const conf = () => readFileSync(paths.natsConf, 'utf8');

describe('fabric reconciler', () => {
  it('one node: no NATS, nothing rendered', async () => {
    setMembers(['n1']);
    const r = await pass();
    expect(r.notes).toContain('fabric: off (one-node cluster: no NATS)');
    expect(existsSync(paths.natsConf)).toBe(false);
    expect(existsSync(paths.routerSection)).toBe(false);
  });

  it('two members: keys made here (0600/0400), config, units and route list rendered, NATS started', async () => {
    // n2's certificate, as the mesh exchange would have stored it
    const n2 = mkdtempSync(join(root, 'n2-'));
    await makeRouteCert(join(n2, 'crt'), join(n2, 'key'), addrs.get('n2')!, 'n2');
    mkdirSync(paths.peersDir, { recursive: true });
    copyFileSync(join(n2, 'crt'), join(paths.peersDir, 'n2.pem'));
    const n3 = mkdtempSync(join(root, 'n3-'));
    await makeRouteCert(join(n3, 'crt'), join(n3, 'key'), addrs.get('n3')!, 'n3');
    writeFileSync(p('n3.pem'), readFileSync(join(n3, 'crt')));
    setMembers(['n1', 'n2']);
    const r = await pass();
    expect(r.changed).toBe(true);
    expect(statSync(paths.routeKey).mode & 0o777).toBe(0o600);
    expect(statSync(paths.routerSeed).mode & 0o777).toBe(0o400);
    expect(statSync(paths.routerSeed).uid).toBe(config.apps.routerUid);
    expect(readFileSync(paths.routerSeed, 'utf8')).toMatch(/^SU[A-Z2-7]+$/);
    expect(conf()).toContain(`routes: ["nats-route://${addrs.get('n2')}:6222"]`);
    expect(conf()).toContain(`listen: "${addrs.get('n1')}:6222"`);
    expect(JSON.parse(readFileSync(paths.routerSection, 'utf8'))).toMatchObject({ node: 'n1', nats: { socket: paths.socket, nkeySeedFile: paths.routerSeed } });
    expect(JSON.parse(readFileSync(paths.routesFile, 'utf8'))).toEqual({ port: 6222, interface: 'bw0', self: addrs.get('n1'), peers: [{ name: 'n2', address: addrs.get('n2') }] });
    expect(readFileSync(join(paths.unitDir, 'bulwark-nats.service'), 'utf8')).toContain('ExecStart=/usr/sbin/nats-server -c');
    expect(sc.calls).toEqual(expect.arrayContaining(['daemon-reload', 'enable bulwark-nats.service bulwark-nats-proxy.socket', 'restart bulwark-nats.service', 'start bulwark-nats-proxy.socket']));
    expect(routeChanges).toBe(1);
  });

  it('converged: a second pass changes nothing', async () => {
    const before = conf();
    const r = await pass();
    expect(r.drift).toEqual([]);
    expect(conf()).toBe(before);
    expect(sc.calls.filter((c) => /^(reload|restart)/.test(c))).toEqual([]);
  });

  it('mesh join: the new member gets a route, its certificate joins the pinned bundle, nats-server is reloaded (not restarted)', async () => {
    copyFileSync(p('n3.pem'), join(paths.peersDir, 'n3.pem'));
    setMembers(['n1', 'n2', 'n3']);
    await pass();
    const want = [addrs.get('n2')!, addrs.get('n3')!].sort().map((x) => `"nats-route://${x}:6222"`);
    expect(conf()).toContain(`routes: [${want.join(', ')}]`);
    expect(readFileSync(paths.peersBundle, 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(sc.calls).toContain('reload bulwark-nats.service');
    expect(sc.calls.some((c) => c.startsWith('restart'))).toBe(false);
    expect(routeChanges).toBe(2);
  });

  it("mesh remove: the route and the member's certificate go, nats-server restarts (a reload would keep an accepted route)", async () => {
    setMembers(['n1', 'n2']);
    const r = await pass();
    expect(conf()).not.toContain(addrs.get('n3')!);
    expect(existsSync(join(paths.peersDir, 'n3.pem'))).toBe(false);
    expect(readFileSync(paths.peersBundle, 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(r.drift).toContain('route certificate of n3 (no longer a member) removed');
    expect(sc.calls).toContain('restart bulwark-nats.service');
    expect(sc.calls).not.toContain('reload bulwark-nats.service');
    expect(routeChanges).toBe(3);
  });

  it('back to one node: NATS stopped and disabled, the router loses its fabric section, the route port closes', async () => {
    setMembers(['n1']);
    await pass();
    expect(sc.calls).toContain('disable --now bulwark-nats.service');
    expect(sc.calls).toContain('try-restart --no-block bulwark-router.service');
    expect(existsSync(paths.routerSection)).toBe(false);
    expect(existsSync(paths.routesFile)).toBe(false);
    expect(routeChanges).toBe(4);
  });
});
