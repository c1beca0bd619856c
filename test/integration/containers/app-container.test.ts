/**
 * An app container exactly as bulwark-app@.service runs it (the argv from podmanAppArgv), with the echo
 * component image (Debian + python3-autobahn + cbor2), against the real router (startRouter) listening
 * on the component's socket. Proves the component works through its socket only, and the isolation:
 * only `lo`, no route anywhere, read-only root, no capabilities, its own uid, and no way to another
 * app's socket (not mounted) or from an unprivileged host user (directory permissions).
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import autobahn from 'autobahn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appContainerName, podmanAppArgv } from '../../../src/containers/argv.js';
import { appMounts, evaluateContainer, parseInspect } from '../../../src/containers/audit.js';
import { routerComponents, type RouterComponents } from '../../../src/containers/plan.js';
import { applyComponents, mergeComponents } from '../../../src/containers/router-components.js';
import { buildAppImageArchive, echoAppSpec } from '../../helpers/image-app.js';
import { loadImageArchive, podman } from '../../../src/containers/podman.js';
import { startRouter, type RouterConfigInput, type RunningRouter } from '../../../src/router/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { run } from '../../../src/util/exec.js';
import { podmanEnvVars, testPodmanEnv } from './podman-env.js';

const env = testPodmanEnv();
const ROUTER_GID = 60500;
const APPS = { echo: 60501, other: 60502 } as const;
const work = mkdtempSync('/var/tmp/bwt-ctr-app-');
const components = join(work, 'components');
let image = '';
let router: RunningRouter | undefined;
let routerConfig: RouterConfigInput;
let caller: { session: autobahn.Session; connection: autobahn.Connection } | undefined;
const started: string[] = [];

/** The router's components for these apps, as the node's plan writes them, with the test's paths. */
function components_(names: (keyof typeof APPS)[]): RouterComponents {
  const rc = routerComponents(names.map((n) => ({ name: n, image: image || 'x', runtime: 'podman', uid: APPS[n], realm: 'realm1', role: 'backend', memory: '128m', cpus: 0.5, pids: 64 })));
  return { components: rc.components, listeners: rc.listeners.map((l) => ({ ...l, path: join(socketDir(l.component as keyof typeof APPS), 'router.sock') })) };
}

function appLog(name: keyof typeof APPS): string {
  try {
    return readFileSync(join(work, `${name}.log`), 'utf8');
  } catch {
    return '';
  }
}

function socketDir(name: keyof typeof APPS): string {
  return join(components, name);
}

/** Starts an app container like its unit does (podman detaches; conmon keeps the log file). */
async function startApp(name: keyof typeof APPS): Promise<void> {
  // The same image for both apps; the second registers its own procedure name.
  const extra = name === 'echo' ? [] : ['--env', `ECHO_PROCEDURE=com.example.${name}`];
  const argv = podmanAppArgv({ name, image, uid: `${APPS[name]}:${APPS[name]}`, memory: '128m', cpus: '0.5', pids: '64', realm: 'realm1', socketDir: socketDir(name), extra }, 'podman');
  const logFd = openSync(join(work, `${name}.log`), 'a');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const [cmd, ...args] = argv;
      const child = spawn(cmd ?? 'podman', args, { env: podmanEnvVars(env), stdio: ['ignore', logFd, logFd] });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c ?? 1));
    });
    started.push(appContainerName(name));
    expect(code, readFileSync(join(work, `${name}.log`), 'utf8')).toBe(0);
  } finally {
    closeSync(logFd);
  }
}

/** Runs python3 inside a running app container (same namespaces, user and capabilities). */
async function pyIn(name: keyof typeof APPS, code: string): Promise<{ code: number; out: string }> {
  const r = await podman(['exec', appContainerName(name), 'python3', '-c', code], env);
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

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
  const logs = Object.keys(APPS).map((n) => {
    try {
      return `--- ${n}.log\n${readFileSync(join(work, `${n}.log`), 'utf8').slice(-3000)}`;
    } catch {
      return '';
    }
  });
  throw new Error(`${procedure} not callable within ${timeoutMs} ms: ${JSON.stringify(last)}\n${logs.join('\n')}`);
}

beforeAll(async () => {
  // The test's work dir is traversable by everyone, so only the component directories' own modes
  // decide who reaches a socket (as on a node: /run/bulwark/components is 0750 root:router).
  chmodSync(work, 0o755);
  mkdirSync(components, { mode: 0o750 });
  chownSync(components, 0, ROUTER_GID);
  chmodSync(components, 0o755);
  for (const [name, uid] of Object.entries(APPS)) {
    const d = join(components, name);
    mkdirSync(d);
    chownSync(d, uid, ROUTER_GID);
    chmodSync(d, 0o770);
  }
  const built = await buildAppImageArchive(echoAppSpec(join(import.meta.dirname, '../../fixtures/echo-app')), env);
  image = await loadImageArchive(built.archive, env);
  // Images of earlier versions of the echo component are stale in the test storage.
  const tags = await podman(['images', '--format', '{{.Repository}}:{{.Tag}}', 'localhost/bulwark-echo'], env);
  for (const t of tags.stdout.split('\n').filter((x) => x && x !== image)) await podman(['rmi', '--force', t], env);
  const permissions = [{ uri: 'com.example.', match: 'prefix' as const, call: true, register: true, disclose: { caller: true } }];
  routerConfig = {
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
  // Only echo at first; "other" is added to the running router later (as `bulwark app add` does).
  router = await startRouter(mergeComponents(routerConfig, components_(['echo'])), { log: createLogger({ name: 'router', level: 'warn' }) });
  caller = await connectCaller();
  await startApp('echo');
  await startApp('other');
}, 900_000);

afterAll(async () => {
  try {
    if (caller?.connection.isOpen) caller.connection.close();
  } catch {
    /* already closed */
  }
  for (const c of started) await podman(['rm', '--force', '--ignore', '--time', '0', c], env);
  await router?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('echo app container against the router', () => {
  it('registers com.example.echo over RawSocket-CBOR on its socket and answers calls, with configured identities', async () => {
    expect(await callUntil<string>('com.example.echo', ['hello'], 60_000)).toBe('hello');
    const who = await callUntil<Record<string, string>>('com.example.echo.whoami', [], 10_000);
    expect(who).toEqual({ caller_authid: 'tester', caller_authrole: 'tester', callee_authid: 'echo', callee_authrole: 'backend' });
  });

  it('sees only lo, and a TCP connect to 192.0.2.1 fails', async () => {
    const r = await pyIn(
      'echo',
      [
        'import socket',
        'print([n for _, n in socket.if_nameindex()])',
        'try:',
        '  socket.create_connection(("192.0.2.1", 80), timeout=3); print("connected")',
        'except OSError as e:',
        '  print("refused", e.errno)',
      ].join('\n'),
    );
    expect(r.code, r.out).toBe(0);
    const [ifaces, connect] = r.out.split('\n');
    expect(ifaces).toBe("['lo']");
    expect(connect).toMatch(/^refused \d+$/);
  });

  it('has a read-only root, no capabilities, no-new-privileges and its own uid', async () => {
    const r = await pyIn(
      'echo',
      [
        'import os, re',
        's = open("/proc/self/status").read()',
        'print(re.search(r"CapEff:\\s*(\\S+)", s).group(1), re.search(r"CapBnd:\\s*(\\S+)", s).group(1), re.search(r"NoNewPrivs:\\s*(\\S+)", s).group(1), os.getuid(), os.getgid())',
        'for p in ("/etc/x", "/usr/x", "/opt/component/x"):',
        '  try:',
        '    open(p, "w"); print("wrote", p)',
        '  except OSError as e:',
        '    print("ro", e.errno)',
      ].join('\n'),
    );
    expect(r.code, r.out).toBe(0);
    const [caps, ...writes] = r.out.split('\n');
    expect(caps).toBe(`0000000000000000 0000000000000000 1 ${APPS.echo} ${APPS.echo}`);
    expect(writes).toEqual(['ro 30', 'ro 30', 'ro 30']); // EROFS
  });

  it("mounts only its own socket directory; another app neither sees nor reaches echo's socket", async () => {
    const own = await pyIn('echo', 'import os; print(sorted(os.listdir("/run/wamp"))); print(os.path.exists("/run/bulwark"))');
    expect(own.out).toBe("['router.sock']\nFalse");
    const mounts = await pyIn('echo', 'print("\\n".join(l.split()[4] for l in open("/proc/self/mountinfo")))');
    const binds = mounts.out.split('\n').filter((m) => !/^\/(proc|sys|dev)(\/|$)/.test(m) && !['/', '/tmp'].includes(m) && !m.startsWith('/etc/') && m !== '/run/.containerenv');
    expect(binds).toEqual(['/run/wamp']);
    const other = await pyIn(
      'other',
      [
        'import os, socket',
        'print(sorted(os.listdir("/run/wamp")))',
        'for p in ("/run/wamp/../bulwark/components/echo/router.sock", "' + join(socketDir('echo'), 'router.sock') + '"):',
        '  s = socket.socket(socket.AF_UNIX)',
        '  try:',
        '    s.connect(p); print("connected")',
        '  except OSError as e:',
        '    print("failed", e.errno)',
      ].join('\n'),
    );
    expect(other.out.split('\n')).toEqual(['[]', 'failed 2', 'failed 2']); // ENOENT: not in its world
  });

  it('on the host, only the app uid and the router reach the socket; an unprivileged user does not', async () => {
    const sock = join(socketDir('echo'), 'router.sock');
    const probe = (uid: number) =>
      run([
        'setpriv',
        `--reuid=${uid}`,
        `--regid=${uid}`,
        '--clear-groups',
        '/usr/bin/python3',
        '-c',
        `import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(${JSON.stringify(sock)}); print("connected")\nexcept OSError as e:\n  print("failed", e.errno)`,
      ]);
    expect((await probe(65534)).stdout.trim()).toBe('failed 13'); // EACCES
    expect((await probe(APPS.other)).stdout.trim()).toBe('failed 13');
    expect((await probe(APPS.echo)).stdout.trim()).toBe('connected');
  });

  it('the audit reads the isolation from podman inspect: all pass for echo; a wider container fails', async () => {
    const r = await podman(['inspect', '--type', 'container', appContainerName('echo')], env);
    const [c] = parseInspect(r.stdout);
    expect(c).toBeDefined();
    const checks = evaluateContainer('app-echo', c!, appMounts('echo', socketDir('echo')));
    expect(checks.map((x) => [x.id, x.status])).toEqual(
      ['network-none', 'read-only-root', 'no-capabilities', 'no-new-privileges', 'non-root', 'mounts'].map((k) => [`container.app-echo.${k}`, 'pass']),
    );
    // Seen from the audit's side: echo's mounts are not what "other" may have.
    const wrong = evaluateContainer('app-echo', c!, appMounts('other', socketDir('other')));
    expect(wrong.find((x) => x.id.endsWith('.mounts'))?.status).toBe('fail');
  });

  it("adding a second app to the running router does not drop the first app's session", async () => {
    await callUntil('com.example.echo', ['before'], 10_000);
    const joinsBefore = appLog('echo').split('echo: registered').length - 1;
    expect(joinsBefore).toBe(1);
    const r = await applyComponents(router!, routerConfig, components_(['echo', 'other']));
    expect(r).toEqual({ opened: [join(socketDir('other'), 'router.sock')], closed: [] });
    expect(await callUntil<string>('com.example.other', ['hi other'], 15_000)).toBe('hi other');
    expect(await callUntil<string>('com.example.echo', ['still here'], 1_000)).toBe('still here');
    expect(appLog('echo').split('echo: registered').length - 1).toBe(joinsBefore);
    // Removing it again closes only its listener; echo's session stays.
    const r2 = await applyComponents(router!, routerConfig, components_(['echo']));
    expect(r2).toEqual({ opened: [], closed: [join(socketDir('other'), 'router.sock')] });
    await expect(caller!.session.call('com.example.other', ['gone'])).rejects.toBeDefined();
    expect(await callUntil<string>('com.example.echo', ['still'], 1_000)).toBe('still');
    expect(appLog('echo').split('echo: registered').length - 1).toBe(joinsBefore);
  });

  it('re-registers within 5 s after the router restarts (the component reconnects by itself)', async () => {
    await callUntil('com.example.echo', ['before'], 10_000);
    const t0 = Date.now();
    await router?.close();
    router = await startRouter(mergeComponents(routerConfig, components_(['echo', 'other'])), { log: createLogger({ name: 'router', level: 'warn' }) });
    caller = await connectCaller();
    expect(await callUntil<string>('com.example.echo', ['after'], 5_000)).toBe('after');
    expect(await callUntil<string>('com.example.other', ['after'], 5_000)).toBe('after');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
