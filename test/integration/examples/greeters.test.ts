/**
 * The components in examples/ against the real router, each on its own component socket as on a node:
 * the Node.js greeter (autobahn-js) and the Python greeter (Debian's python3-autobahn) run as plain
 * processes first (the code), then both images their build-image.sh scripts make run as app containers
 * with the argv of bulwark-app@.service (isolated: no network, read-only root, no capabilities). An
 * outside-style caller (autobahn-js) calls hello and add on each and gets the components' own errors.
 * The lab runs the Node.js greeter end to end from the README (test/system/44-first-app.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appContainerName, podmanAppArgv } from '../../../src/containers/argv.js';
import { appImageKeys, buildAppImageArchive, echoAppSpec } from '../../helpers/image-app.js';
import { podman } from '../../../src/containers/podman.js';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { runOk } from '../../../src/util/exec.js';
import { podmanEnvVars, testPodmanEnv } from '../containers/podman-env.js';

const say = (m: string) => process.stderr.write(`[examples] ${m}\n`);
const env = testPodmanEnv();
const ROUTER_GID = 60500;
// Process runs and container runs get their own identities (and sockets).
const APPS = { greeter: 60511, pygreeter: 60512, 'greeter-img': 60513, 'pygreeter-img': 60514 } as const;
type App = keyof typeof APPS;
const work = mkdtempSync('/var/tmp/bwt-examples-');
const dir = (a: App) => join(work, 'components', a);
let router: RunningRouter | undefined;
let caller: autobahn.Session | undefined;
let callerConn: autobahn.Connection | undefined;
const procs: ChildProcess[] = [];
const containers: string[] = [];
const output: Record<string, string> = {};

function track(name: string, child: ChildProcess): void {
  output[name] = '';
  child.stdout?.on('data', (d: Buffer) => (output[name] += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output[name] += d.toString()));
  procs.push(child);
}

async function callUntil(procedure: string, args: unknown[], timeoutMs: number): Promise<unknown> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return await caller!.call(procedure, args);
    } catch (e) {
      last = e;
      if ((e as { error?: string }).error !== 'wamp.error.no_such_procedure') throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(
    `${procedure} not registered within ${timeoutMs} ms (${JSON.stringify(last)}):\n${Object.entries(output)
      .map(([k, v]) => `--- ${k}\n${v.slice(-2000)}`)
      .join('\n')}`,
  );
}

beforeAll(async () => {
  chmodSync(work, 0o755);
  mkdirSync(join(work, 'components'), { mode: 0o750 });
  chownSync(join(work, 'components'), 0, ROUTER_GID);
  for (const [a, uid] of Object.entries(APPS)) {
    mkdirSync(dir(a as App));
    chownSync(dir(a as App), uid, ROUTER_GID);
    chmodSync(dir(a as App), 0o770);
  }
  const permissions = [{ uri: 'com.example.', match: 'prefix' as const, call: true, register: true }];
  router = await startRouter(
    {
      realms: [
        {
          name: 'app',
          roles: [
            { name: 'backend', permissions },
            { name: 'public', permissions: [{ uri: 'com.example.', match: 'prefix' as const, call: true }] },
          ],
        },
      ],
      components: [{ name: 'outside', realm: 'app', role: 'public' }, ...Object.keys(APPS).map((name) => ({ name, realm: 'app', role: 'backend' }))],
      listeners: [
        { type: 'rawsocket', path: join(work, 'caller.sock'), component: 'outside', mode: '0600' },
        ...Object.keys(APPS).map((a) => ({
          type: 'rawsocket' as const,
          path: join(dir(a as App), 'router.sock'),
          component: a,
          mode: '0666',
          serializers: ['cbor' as const, 'msgpack' as const, 'json' as const],
        })),
      ],
    },
    { log: createLogger({ name: 'router', level: 'warn' }) },
  );
  callerConn = new autobahn.Connection({ transports: [{ type: 'rawsocket', path: join(work, 'caller.sock') }], realm: 'app', max_retries: 0 } as unknown as autobahn.IConnectionOptions);
  caller = await new Promise<autobahn.Session>((res, rej) => {
    callerConn!.onopen = res;
    callerConn!.onclose = (reason) => {
      rej(new Error(reason));
      return true;
    };
    callerConn!.open();
  });
}, 120_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const c of containers) await podman(['rm', '--force', '--ignore', '--time', '0', c], env);
  await podman(['rmi', '--force', 'localhost/bwt-node-greeter:test', 'localhost/bwt-python-greeter:test'], env);
  try {
    if (callerConn?.isOpen) callerConn.close();
  } catch {
    /* closed */
  }
  await router?.close();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

/** hello and add as a client sees them, including the component's own error for a bad argument. */
async function exercise(app: App, runtime: RegExp): Promise<void> {
  const name = app.replace('-img', '');
  expect(await callUntil(`com.example.${app}.hello`, ['Ada'], 60_000)).toMatch(new RegExp(`^Hello, Ada! \\(from ${app}, ${runtime.source}\\)$`));
  expect(await caller!.call(`com.example.${app}.add`, [2, 3.5])).toBe(5.5);
  const err = await caller!.call(`com.example.${app}.add`, ['x', 1]).then(
    () => undefined,
    (e: { error: string; args: unknown[] }) => e,
  );
  expect(err, name).toMatchObject({ error: 'com.example.error.invalid_argument', args: ['add takes two numbers'] });
}

describe('example components as processes', () => {
  it('the Node.js greeter registers on its socket and answers', async () => {
    track('greeter', spawn('node', [resolve('examples/node-greeter/greeter.cjs')], { env: { ...process.env, BULWARK_WAMP_SOCKET: join(dir('greeter'), 'router.sock'), BULWARK_WAMP_REALM: 'app' } }));
    await exercise('greeter', /Node\.js v\d+\.\d+\.\d+/);
    expect(output.greeter).toContain('greeter: registered com.example.greeter.hello and com.example.greeter.add on app as greeter/backend');
  });

  it('the Python greeter (Debian python3-autobahn, CBOR) registers on its socket and answers', async () => {
    track(
      'pygreeter',
      spawn('/usr/bin/python3', ['-u', resolve('examples/python-greeter/greeter.py')], {
        env: { ...process.env, BULWARK_WAMP_SOCKET: join(dir('pygreeter'), 'router.sock'), BULWARK_WAMP_REALM: 'app' },
      }),
    );
    await exercise('pygreeter', /Python 3\.\d+\.\d+/);
    expect(output.pygreeter).toContain('greeter: registered com.example.pygreeter.hello and com.example.pygreeter.add on app as pygreeter/backend');
  });
});

describe('example images built by their build-image.sh, run as isolated app containers', () => {
  async function buildAndRun(app: 'greeter-img' | 'pygreeter-img', script: string, tag: string, extraEnv: Record<string, string> = {}): Promise<void> {
    const archive = join(work, `${app}.tar`);
    const t0 = Date.now();
    await runOk([resolve(script), archive], { env: { ...podmanEnvVars(env), TAG: tag, ...extraEnv }, timeoutMs: 900_000 });
    say(`${script}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const loaded = await podman(['load', '--quiet', '--input', archive], env);
    expect(loaded.stdout).toContain(tag);
    const argv = podmanAppArgv({ name: app, image: tag, uid: `${APPS[app]}:${APPS[app]}`, memory: '128m', cpus: '0.5', pids: '64', realm: 'app', socketDir: dir(app) }, 'podman');
    // As in its unit: podman detaches, and with --log-driver passthrough the component writes straight to
    // podman's stdout, a file here.
    const log = join(work, `${app}.log`);
    const fd = openSync(log, 'a');
    try {
      const code = await new Promise<number>((res, rej) => {
        const child = spawn('podman', argv.slice(1), { env: podmanEnvVars(env), stdio: ['ignore', fd, fd] });
        child.on('error', rej);
        child.on('exit', (c) => res(c ?? 1));
      });
      containers.push(appContainerName(app));
      expect(code, readFileSync(log, 'utf8')).toBe(0);
    } finally {
      closeSync(fd);
    }
    Object.defineProperty(output, app, { enumerable: true, get: () => readFileSync(log, 'utf8') });
  }

  it('node-greeter: node + its libraries + the bundle, no registry, no network', async () => {
    say('examples/node-greeter/build-image.sh');
    await buildAndRun('greeter-img', 'examples/node-greeter/build-image.sh', 'localhost/bwt-node-greeter:test');
    await exercise('greeter-img', /Node\.js v\d+\.\d+\.\d+/);
    const inspect = await podman(['inspect', '--format', '{{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} {{.EffectiveCaps}}', appContainerName('greeter-img')], env);
    expect(inspect.stdout.trim()).toBe('none true []');
  });

  it('python-greeter: a Debian root with python3-autobahn + greeter.py', async () => {
    // The echo component's image (other container tests) is the same debootstrap root with the same packages:
    // the suite makes it once (cached in /var/cache/bulwark/images) and the script starts from it.
    const echo = echoAppSpec(resolve('test/fixtures/echo-app'));
    await buildAppImageArchive(echo, env);
    const base = join(
      echo.cacheDir,
      `rootfs-${echo.suite}-${
        appImageKeys(
          echo,
          echo.files.map((f) => readFileSync(f)),
        ).rootfs
      }.tar`,
    );
    say(`examples/python-greeter/build-image.sh ${existsSync(base) ? `from the echo image's root ${base}` : '(debootstrap: a minute or two)'}`);
    await buildAndRun('pygreeter-img', 'examples/python-greeter/build-image.sh', 'localhost/bwt-python-greeter:test', existsSync(base) ? { BASE_ROOTFS: base } : {});
    await exercise('pygreeter-img', /Python 3\.\d+\.\d+/);
  });
});
