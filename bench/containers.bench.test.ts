import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import autobahn from 'autobahn';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { appContainerName, podmanAppArgv } from '../src/containers/argv.js';
import { buildAppImageArchive, echoAppSpec } from '../test/helpers/image-app.js';
import { loadImageArchive, podman } from '../src/containers/podman.js';
import { routerComponents } from '../src/containers/plan.js';
import { mergeComponents } from '../src/containers/router-components.js';
import { createLogger } from '../src/log/logger.js';
import { startRouter, type RouterConfigInput, type RunningRouter } from '../src/router/index.js';
import { podmanEnvVars, testPodmanEnv } from '../test/integration/containers/podman-env.js';

// On this host (podman + runc, no systemd): time from starting the echo app container with the unit's
// argv to its first successful call through the router, and from a router restart until the component
// is callable again. Prints one `BENCH {json}` line per measure (median of RUNS).
const RUNS = 5;
const env = testPodmanEnv();
const work = mkdtempSync('/var/tmp/bwb-ctr-');
const dir = join(work, 'echo');
const UID = 60501;
let image = '';
let router: RunningRouter | undefined;
let base: RouterConfigInput;
const report = (o: object) => console.log(`BENCH ${JSON.stringify(o)}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function connect(): Promise<{ session: autobahn.Session; connection: autobahn.Connection }> {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ transports: [{ type: 'rawsocket', path: join(work, 'caller.sock') }], realm: 'realm1', max_retries: 0 } as unknown as autobahn.IConnectionOptions);
    connection.onopen = (session) => resolve({ session, connection });
    connection.onclose = (r) => {
      reject(new Error(r));
      return true;
    };
    connection.open();
  });
}

async function untilCallable(session: autobahn.Session, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await session.call('com.example.echo', ['x']);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function startRouterNow(): Promise<RunningRouter> {
  const comps = routerComponents([{ name: 'echo', image, runtime: 'podman', uid: UID, realm: 'realm1', role: 'backend', memory: '128m', cpus: 0.5, pids: 64 }]);
  comps.listeners = comps.listeners.map((l) => ({ ...l, path: join(dir, 'router.sock') }));
  return startRouter(mergeComponents(base, comps), { log: createLogger({ name: 'router', level: 'warn' }) });
}

async function startApp(): Promise<void> {
  const [cmd, ...args] = podmanAppArgv({ name: 'bench-echo', image, uid: `${UID}:${UID}`, memory: '128m', cpus: '1', pids: '64', realm: 'realm1', socketDir: dir }, 'podman');
  const fd = openSync(join(work, 'app.log'), 'a');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const c = spawn(cmd ?? 'podman', args, { env: podmanEnvVars(env), stdio: ['ignore', fd, fd] });
      c.on('error', reject);
      c.on('exit', (x) => resolve(x ?? 1));
    });
    expect(code).toBe(0);
  } finally {
    closeSync(fd);
  }
}

beforeAll(async () => {
  chmodSync(work, 0o755);
  mkdirSync(dir);
  chownSync(dir, UID, 60500);
  chmodSync(dir, 0o770);
  image = await loadImageArchive((await buildAppImageArchive(echoAppSpec(join(import.meta.dirname, '../test/fixtures/echo-app')), env)).archive, env);
  const permissions = [{ uri: 'com.example.', match: 'prefix' as const, call: true, register: true }];
  base = {
    realms: [
      {
        name: 'realm1',
        roles: [
          { name: 'backend', permissions },
          { name: 'tester', permissions },
        ],
      },
    ],
    components: [{ name: 'tester', realm: 'realm1', role: 'tester' }],
    listeners: [{ type: 'rawsocket', path: join(work, 'caller.sock'), component: 'tester', mode: '0600' }],
  };
  router = await startRouterNow();
});

afterAll(async () => {
  await podman(['rm', '--force', '--ignore', '--time', '0', appContainerName('bench-echo')], env);
  await router?.close();
  rmSync(work, { recursive: true, force: true });
});

it('app start to first call, router restart to re-registered', async () => {
  const starts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await podman(['rm', '--force', '--ignore', '--time', '0', appContainerName('bench-echo')], env);
    const c = await connect();
    const t = Date.now();
    await startApp();
    await untilCallable(c.session);
    starts.push(Date.now() - t);
    c.connection.close();
  }
  report({ bench: 'containers.app-start-to-first-call', unit: 'ms', runs: RUNS, median: median(starts), all: starts });
  const restarts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = Date.now();
    await router?.close();
    router = await startRouterNow();
    const c = await connect();
    await untilCallable(c.session, 10_000);
    restarts.push(Date.now() - t);
    c.connection.close();
  }
  report({ bench: 'containers.router-restart-to-registered', unit: 'ms', runs: RUNS, median: median(restarts), all: restarts });
  expect(median(restarts)).toBeLessThan(5_000);
});
