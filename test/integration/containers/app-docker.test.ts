/**
 * `apps.runtime: docker` for real: a private Docker engine (Debian's dockerd, see docker-engine.ts) runs the
 * echo component exactly as bulwark-app-docker@.service does. The test renders the unit's own ExecStart=,
 * ExecStartPre= and ExecStop= lines (specifier %i and the ${VARIABLES} of the EnvironmentFile= that
 * `bulwark app add` writes, from appEnvFile()) and runs them; the one change is the volume's host side,
 * the test's socket directory instead of /run/bulwark/components/echo. Against the real router it checks
 * a WAMP round trip over the component's socket and the same isolation as the podman test: only `lo`,
 * nothing reachable, read-only root, no capabilities, not root, only its socket directory mounted,
 * logs in the journal under the container's tag, limits applied, and `docker stop` ends it.
 * The engine is stopped and its data removed afterwards, also when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appContainerName, APP_SOCKET_MOUNT, COMPONENTS_DIR } from '../../../src/containers/argv.js';
import { dockerLoadedRef } from '../../../src/containers/apps.js';
import { appMounts, evaluateContainer, parseInspect } from '../../../src/containers/audit.js';
import { buildAppImageArchive, echoAppSpec } from '../../helpers/image-app.js';
import { appEnvFile, routerComponents } from '../../../src/containers/plan.js';
import type { AppSpec } from '../../../src/containers/schema.js';
import { mergeComponents } from '../../../src/containers/router-components.js';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { parseEnvFile, parseUnit, splitExecLine, unitsSourceDir, unitValues } from '../../../src/systemd/units.js';
import { ISOLATED, ISOLATION_PROBE } from '../../helpers/apps.js';
import { DOCKER, startDockerEngine, type DockerEngine } from './docker-engine.js';
import { testPodmanEnv } from './podman-env.js';

const say = (m: string) => process.stderr.write(`[docker] ${m}\n`);
const ROUTER_GID = 60500;
const UID = 60501;
const work = mkdtempSync('/var/tmp/bwt-docker-app-');
const socketDir = join(work, 'components', 'echo');
let engine: DockerEngine | undefined;
let router: RunningRouter | undefined;
let app: ChildProcess | undefined;
let appOut = '';
let caller: { session: autobahn.Session; connection: autobahn.Connection } | undefined;
let spec: AppSpec;

/**
 * The unit's Exec line KEY for instance NAME, as systemd would run it: %i expanded, ${VAR} taken from the
 * app's EnvironmentFile= (an unset variable would be an empty word: refused here), the docker client at
 * /usr/bin/docker. The socket directory's host side is the test's.
 */
function renderUnitExec(key: 'ExecStart' | 'ExecStartPre' | 'ExecStop', name: string, envFile: string): string[][] {
  const unit = parseUnit(readFileSync(join(unitsSourceDir(), 'bulwark-app-docker@.service'), 'utf8'));
  const vars = parseEnvFile(envFile);
  return unitValues(unit, 'Service', key)
    .map(splitExecLine)
    .filter((argv) => argv[0] === DOCKER)
    .map((argv) =>
      argv.map((w) =>
        w
          .replace(/%i/g, name)
          .replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, v: string) => {
            const val = vars[v];
            if (val === undefined) throw new Error(`${key} uses \${${v}}, which the env file does not set`);
            return val;
          })
          .replace(`${COMPONENTS_DIR}/${name}:`, `${socketDir}:`),
      ),
    );
}

const dockerIn = (py: string) => engine!.docker(['exec', '-i', appContainerName('echo'), 'python3', '-'], { stdin: py + '\n', timeoutMs: 60_000 });

function connectCaller(): Promise<{ session: autobahn.Session; connection: autobahn.Connection }> {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ transports: [{ type: 'rawsocket', path: join(work, 'caller.sock') }], realm: 'realm1', max_retries: 0 } as unknown as autobahn.IConnectionOptions);
    connection.onopen = (session) => resolve({ session, connection });
    connection.onclose = (reason) => {
      reject(new Error(`caller closed: ${reason}`));
      return true;
    };
    connection.open();
  });
}

async function callUntil<T>(procedure: string, args: unknown[], timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return (await caller?.session.call(procedure, args)) as T;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${procedure} not callable within ${timeoutMs} ms: ${JSON.stringify(last)}\n--- docker run output\n${appOut.slice(-3000)}\n--- dockerd\n${engine?.log().slice(-2000)}`);
}

beforeAll(async () => {
  // Socket directories as on a node: root:router 0750 above, APPUID:router 0770 for the app.
  chmodSync(work, 0o755);
  mkdirSync(join(work, 'components'), { mode: 0o750 });
  chownSync(join(work, 'components'), 0, ROUTER_GID);
  mkdirSync(socketDir);
  chownSync(socketDir, UID, ROUTER_GID);
  chmodSync(socketDir, 0o770);
  say('echo image archive (built once with debootstrap and cached in /var/cache/bulwark/images)');
  const built = await buildAppImageArchive(echoAppSpec(join(import.meta.dirname, '../../fixtures/echo-app')), testPodmanEnv());
  engine = await startDockerEngine(work, say);
  say('docker load of the archive podman saved (the same file `bulwark app add --image-archive` uploads)');
  const load = await engine.docker(['load', '--input', built.archive], { timeoutMs: 300_000 });
  expect(load.code, load.stderr).toBe(0);
  // The parser `bulwark app add --image-archive` uses on a docker node, on real output.
  const ref = dockerLoadedRef(load.stdout) ?? '';
  expect(ref).toMatch(/^localhost\/bulwark-echo:/);
  const id = (await engine.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  // What `bulwark app add echo` records on a docker node: the image id is pinned.
  spec = { name: 'echo', image: id, runtime: 'docker', uid: UID, realm: 'realm1', role: 'backend', memory: '128m', cpus: 0.5, pids: 64 };
  const rc = routerComponents([spec]);
  const permissions = [{ uri: 'com.example.', match: 'prefix' as const, call: true, register: true, disclose: { caller: true } }];
  router = await startRouter(
    mergeComponents(
      {
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
      },
      { components: rc.components, listeners: rc.listeners.map((l) => ({ ...l, path: join(socketDir, 'router.sock') })) },
    ),
    { log: createLogger({ name: 'router', level: 'warn' }) },
  );
  caller = await connectCaller();
  const env = appEnvFile(spec);
  for (const pre of renderUnitExec('ExecStartPre', 'echo', env)) await engine.docker(pre.slice(1)); // "-" prefix: a failure is fine
  const [start] = renderUnitExec('ExecStart', 'echo', env);
  say(`ExecStart: ${start?.join(' ')}`);
  app = spawn(start?.[0] ?? DOCKER, start?.slice(1) ?? [], { env: engine.env, stdio: ['ignore', 'pipe', 'pipe'] });
  app.stdout?.on('data', (d: Buffer) => (appOut += d.toString()));
  app.stderr?.on('data', (d: Buffer) => (appOut += d.toString()));
}, 900_000);

afterAll(async () => {
  try {
    if (caller?.connection.isOpen) caller.connection.close();
  } catch {
    /* already closed */
  }
  if (engine) await engine.docker(['rm', '--force', appContainerName('echo')]).catch(() => undefined);
  app?.kill('SIGKILL');
  await router?.close().catch(() => undefined);
  await engine?.stop();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('echo app on Docker, run by the docker unit', () => {
  it('registers over RawSocket-CBOR on its socket and answers a call with the identity its socket gives it', async () => {
    expect(await callUntil<string>('com.example.echo', ['hello docker'], 60_000)).toBe('hello docker');
    const who = await callUntil<Record<string, string>>('com.example.echo.whoami', [], 10_000);
    expect(who).toEqual({ caller_authid: 'tester', caller_authrole: 'tester', callee_authid: 'echo', callee_authrole: 'backend' });
  });

  it('inside: only lo, nothing reachable, no capabilities, not root, read-only root', async () => {
    const r = await dockerIn(ISOLATION_PROBE);
    expect(r.stdout.trim().split('\n'), r.stderr).toEqual(ISOLATED);
    const more = await dockerIn(
      'import re, os\ns = open("/proc/self/status").read()\nprint(re.search(r"NoNewPrivs:\\s*(\\S+)", s).group(1), re.search(r"CapBnd:\\s*(\\S+)", s).group(1), os.getuid(), os.getgid())',
    );
    expect(more.stdout.trim()).toBe(`1 0000000000000000 ${UID} ${UID}`);
  });

  it('mounts only its socket directory; the host paths of other components do not exist inside', async () => {
    const r = await dockerIn(
      [
        'import os',
        'print(sorted(os.listdir("/run/wamp")))',
        'print(os.path.exists("/run/bulwark"), os.path.exists("' + join(work, 'caller.sock') + '"))',
        'print("\\n".join(l.split()[4] for l in open("/proc/self/mountinfo")))',
      ].join('\n'),
    );
    const [listing, exists, ...mounts] = r.stdout.trim().split('\n');
    expect(listing).toBe("['router.sock']");
    expect(exists).toBe('False False');
    // Docker's own: /proc, /sys, /dev and below, /etc/hosts|hostname|resolv.conf; ours: /tmp (tmpfs) and the socket.
    const binds = mounts.filter((m) => !/^\/(proc|sys|dev)(\/|$)/.test(m) && !['/', '/tmp', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf'].includes(m));
    expect(binds).toEqual([APP_SOCKET_MOUNT]);
  });

  it('the audit reads the isolation from docker inspect: all pass; limits are applied', async () => {
    const r = await engine!.docker(['inspect', '--type', 'container', appContainerName('echo')]);
    const [c] = parseInspect(r.stdout);
    const checks = evaluateContainer('app-echo', c!, appMounts('echo', socketDir));
    expect(checks.map((x) => [x.id, x.status])).toEqual(
      ['network-none', 'read-only-root', 'no-capabilities', 'no-new-privileges', 'non-root', 'mounts'].map((k) => [`container.app-echo.${k}`, 'pass']),
    );
    const hc = (JSON.parse(r.stdout) as { HostConfig: { Memory: number; MemorySwap: number; NanoCpus: number; PidsLimit: number; LogConfig: { Type: string } } }[])[0]!.HostConfig;
    expect([hc.Memory, hc.MemorySwap, hc.NanoCpus, hc.PidsLimit, hc.LogConfig.Type]).toEqual([128 * 2 ** 20, 128 * 2 ** 20, 0.5e9, 64, 'journald']);
  });

  it("its output goes to the journal under the container's tag", async () => {
    const lines = engine!.journal().filter((e) => e.SYSLOG_IDENTIFIER === appContainerName('echo'));
    expect(lines.map((e) => e.MESSAGE)).toContain('echo: registered com.example.echo on realm1 as echo/backend');
    expect(lines[0]?.CONTAINER_NAME).toBe(appContainerName('echo'));
  });

  it("the unit's ExecStop= stops it: the foreground client exits and --rm removes the container", async () => {
    const [stop] = renderUnitExec('ExecStop', 'echo', appEnvFile(spec));
    const exited = new Promise<number | null>((resolve) => app!.once('exit', (c) => resolve(c)));
    const r = await engine!.docker(stop!.slice(1), { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const code = await exited;
    // python exits 0 on SIGTERM (it handles it); docker run passes the container's exit code on.
    expect(code).toBe(0);
    expect(appOut).toContain('echo: stopping');
    const ps = await engine!.docker(['ps', '--all', '--quiet', '--filter', `name=${appContainerName('echo')}`]);
    expect(ps.stdout.trim()).toBe('');
    await expect(caller!.session.call('com.example.echo', ['gone'])).rejects.toBeDefined();
  });
});
