import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../../../src/core/errors.js';
import { nodeArgv, parseAppArgs } from '../../../src/containers/command.js';
import { appLogsArgv } from '../../../src/containers/apps.js';
import { appEnvFile, appUnit, memoryBytes, routerComponents, tmpfilesConf } from '../../../src/containers/plan.js';
import { appsSchema, type AppSpec } from '../../../src/containers/schema.js';
import { allocateUid } from '../../../src/containers/state.js';
import { parseEnvFile, renderEnvFile } from '../../../src/systemd/units.js';
import { parseShow, toUnitState } from '../../../src/systemd/systemctl.js';

const spec = (name: string, uid: number, extra: Partial<AppSpec> = {}): AppSpec => ({
  name,
  image: 'f'.repeat(64),
  runtime: 'podman',
  uid,
  realm: 'realm1',
  role: 'backend',
  memory: '256m',
  cpus: 0.5,
  pids: 128,
  ...extra,
});

describe('apps config section', () => {
  it('defaults to podman, distinct router and app uids, sane limits', () => {
    const c = appsSchema.parse(undefined);
    expect(c).toMatchObject({ runtime: 'podman', routerUid: 60500, uidBase: 60501, realm: 'realm1', role: 'backend', limits: { memory: '256m', cpus: 0.5, pids: 128 } });
  });
  it('refuses a router uid inside the app uid range and unknown keys', () => {
    expect(appsSchema.safeParse({ routerUid: 60510 }).success).toBe(false);
    expect(appsSchema.safeParse({ runtim: 'docker' }).success).toBe(false);
    expect(appsSchema.safeParse({ limits: { memory: '256' } }).success).toBe(false);
  });
});

describe('uid allocation', () => {
  const cfg = { uidBase: 60501, maxApps: 4 };
  it('keeps an app its uid, gives new apps the lowest free one, fails when full', () => {
    const apps = [spec('a', 60501), spec('c', 60503)];
    expect(allocateUid('c', apps, cfg)).toBe(60503);
    expect(allocateUid('b', apps, cfg)).toBe(60502);
    expect(() => allocateUid('e', [...apps, spec('b', 60502), spec('d', 60504)], cfg)).toThrow(/no free app uid/);
  });
  it('never hands out a uid another app has, and stays in range', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 15 }), (slots) => {
        const apps = slots.map((s, i) => spec(`a${i}`, 1000 + s));
        const uid = allocateUid('new', apps, { uidBase: 1000, maxApps: 16 });
        expect(apps.some((a) => a.uid === uid)).toBe(false);
        expect(uid).toBeGreaterThanOrEqual(1000);
        expect(uid).toBeLessThan(1016);
      }),
    );
  });
});

describe('node files for apps', () => {
  it('env file round-trips and carries everything the template unit reads', () => {
    const env = parseEnvFile(appEnvFile(spec('billing', 60502)));
    expect(env).toEqual({ BULWARK_APP_IMAGE: 'f'.repeat(64), BULWARK_APP_UID: '60502', BULWARK_APP_MEMORY: '256m', BULWARK_APP_CPUS: '0.5', BULWARK_APP_PIDS: '128', BULWARK_APP_REALM: 'realm1' });
  });
  it('env values cannot inject a second variable or a line', () => {
    expect(() => renderEnvFile({ A: 'x\nB=y' })).toThrow();
    expect(parseEnvFile(renderEnvFile({ A: 'a "quoted" $HOME `x` \\' }))).toEqual({ A: 'a "quoted" $HOME `x` \\' });
  });
  it('tmpfiles: parent root:router 0750, the router metrics dir router-only, each app dir APPUID:router 0770', () => {
    expect(
      tmpfilesConf([spec('b', 60502), spec('a', 60501)], 60500)
        .split('\n')
        .filter((l) => l.startsWith('d ')),
    ).toEqual([
      'd /run/bulwark/components 0750 root 60500 -',
      'd /run/bulwark/components/.router 0700 60500 60500 -',
      'd /run/bulwark/fabric 0750 root 60500 -',
      'd /run/bulwark/components/a 0770 60501 60500 -',
      'd /run/bulwark/components/b 0770 60502 60500 -',
    ]);
  });
  it('router components: one Unix listener per app, identity = app name, never TCP', () => {
    const r = routerComponents([spec('echo', 60501, { role: 'svc', realm: 'com.example' })]);
    expect(r.components).toEqual([{ name: 'echo', realm: 'com.example', role: 'svc' }]);
    expect(r.listeners).toEqual([{ type: 'rawsocket', path: '/run/bulwark/components/echo/router.sock', component: 'echo', mode: '0666', serializers: ['cbor', 'msgpack', 'json'] }]);
  });
  it('unit names and journal argv follow the runtime', () => {
    expect(appUnit(spec('x', 1000))).toBe('bulwark-app@x.service');
    expect(appUnit(spec('x', 1000, { runtime: 'docker' }))).toBe('bulwark-app-docker@x.service');
    expect(appLogsArgv(spec('x', 1000), { lines: 5, follow: true })).toEqual(['journalctl', '--no-pager', '--output=short-iso', '-u', 'bulwark-app@x.service', '-n', '5', '--follow']);
    expect(memoryBytes('256m')).toBe(256 * 1024 * 1024);
  });
});

describe('bulwark app arguments', () => {
  it('parses add with every option', () => {
    const p = parseAppArgs(['add', 'billing', '--image-archive', '/tmp/b.tar', '--realm', 'r', '--role', 'svc', '--memory', '1g', '--cpus', '1.5', '--pids', '64', '--node', 'n1', '--node', 'n2']);
    expect(p).toMatchObject({ sub: 'add', name: 'billing', imageArchive: '/tmp/b.tar', realm: 'r', role: 'svc', memory: '1g', cpus: 1.5, pids: 64, nodes: ['n1', 'n2'], all: false });
    expect(nodeArgv(p, '/var/cache/bulwark/images/b.tar')).toEqual([
      'app',
      'add',
      'billing',
      '--image-archive',
      '/var/cache/bulwark/images/b.tar',
      '--realm',
      'r',
      '--role',
      'svc',
      '--memory',
      '1g',
      '--cpus',
      '1.5',
      '--pids',
      '64',
      '--json',
    ]);
  });
  it.each([
    [['add', 'x']], // no image
    [['add', 'x', '--image', 'a', '--image-archive', 'b']],
    [['add', 'Bad_Name', '--image', 'a']],
    [['add', 'x', '--image', 'a', '--memory', '100']],
    [['add', 'x', '--image', 'a', '--cpus', '-1']],
    [['remove']],
    [['list', 'x']],
    [['remove', 'x', '--image', 'a']],
    [['list', '--all', '--node', 'n1']],
    [['logs', 'x', '--all']],
    [['frobnicate']],
  ])('refuses %j', (args) => {
    expect(() => parseAppArgs(args)).toThrow(UsageError);
  });
  it('list and logs', () => {
    expect(nodeArgv(parseAppArgs(['list', '--all']))).toEqual(['app', 'list', '--json']);
    expect(nodeArgv(parseAppArgs(['logs', 'x', '--lines', '20']))).toEqual(['app', 'logs', 'x', '--lines', '20']);
  });
});

describe('systemctl show parsing', () => {
  it('reads several units', () => {
    const rows = parseShow(
      'Id=bulwark-app@a.service\nActiveState=active\nSubState=running\nMainPID=42\nNRestarts=3\n\nId=bulwark-app@b.service\nActiveState=failed\nSubState=failed\nMainPID=0\nNRestarts=0\n',
    ).map(toUnitState);
    expect(rows.map((r) => [r.id, r.activeState, r.mainPid, r.restarts])).toEqual([
      ['bulwark-app@a.service', 'active', 42, 3],
      ['bulwark-app@b.service', 'failed', 0, 0],
    ]);
  });
});

describe('router components file', () => {
  it("the node's plan validates as the router reads it, and merges into a valid router config", async () => {
    const { routerComponentsSchema, mergeComponents } = await import('../../../src/containers/router-components.js');
    const { routerSchema } = await import('../../../src/router/config.js');
    const comps = routerComponentsSchema.parse(JSON.parse(JSON.stringify(routerComponents([spec('echo', 60501), spec('billing', 60502)]))));
    const base = { realms: [{ name: 'realm1', roles: [{ name: 'backend' }] }], components: [{ name: 'echo', realm: 'realm1', role: 'backend' }], listeners: [] };
    const cfg = routerSchema.parse(mergeComponents(base, comps));
    // The base config's own "echo" wins; billing comes from the file.
    expect(cfg.components.map((c) => c.name)).toEqual(['echo', 'billing']);
    expect(cfg.listeners.map((l) => (l.type === 'rawsocket' ? [l.path, l.component, l.mode] : []))).toEqual([['/run/bulwark/components/billing/router.sock', 'billing', '0666']]);
  });
});

describe('containers reconciler', () => {
  it('does nothing and says why where no runtime is installed (a build host)', async () => {
    const { createContainersReconciler } = await import('../../../src/containers/reconciler.js');
    const { configSchema } = await import('../../../src/config/schema.js');
    const { createLogger } = await import('../../../src/log/logger.js');
    const config = configSchema.parse({ cluster: 'c', nodes: [{ name: 'n1', ssh: 'root@192.0.2.11', endpoint: '192.0.2.11' }] });
    const r = await createContainersReconciler('/nonexistent/bulwark-runtime').reconcile({ config, nodeName: 'n1', log: createLogger({ level: 'silent' }) });
    expect(r).toEqual({ name: 'containers', changed: false, drift: [], notes: ['no runtime in /nonexistent/bulwark-runtime: nothing to run'] });
  });
});
