/**
 * The container units under a real systemd: one nspawn-booted Debian 12 machine (the lab's cached rootfs,
 * its own overlay, no network but lo) with podman installed from .debs, the Bulwark runtime (node + bundle)
 * in /usr/lib/bulwark, and lab podman settings (crun, cgroups disabled, overlay storage on a host directory
 * bound in). Runs the containers reconciler (router image, units, sockets), `bulwark app add echo
 * --image-archive`, calls com.example.echo over ws on the socket-activated port 443 through the router
 * container, kills the app and restarts the router (callable again within 5 s each), audits, removes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImageArchive, echoAppSpec } from '../../helpers/image-app.js';
import { ensureRootfs } from '../../../src/lab/rootfs.js';
import { LAB_CACHE } from '../../../src/lab/topology.js';
import { run, runOk, type ExecResult } from '../../../src/util/exec.js';
import { testPodmanEnv } from './podman-env.js';

const MACHINE = `bwtctm${process.pid % 100000}`;
const work = mkdtempSync('/var/tmp/bwt-ctm-');
const root = join(work, 'merged');
const repo = join(import.meta.dirname, '../../..');
let nspawn: ChildProcess | undefined;
let init = 0;
let mounted = false;

const BANNER = "import { createRequire as __bwCreateRequire } from 'node:module'; const require = __bwCreateRequire(import.meta.url);";
const EXTERNAL = ['cpu-features', 'cbor-extract', 'msgpackr-extract', '*.node', 'bufferutil', 'utf-8-validate'];

/** Runs a command inside the machine (all its namespaces), with a clean environment. */
function inMachine(argv: string[], timeoutMs = 120_000): Promise<ExecResult> {
  return run(['nsenter', '-t', String(init), '-a', '--', 'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', ...argv], { timeoutMs });
}
const sh = (script: string, timeoutMs?: number) => inMachine(['/bin/bash', '-c', script], timeoutMs);

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Calls com.example.echo over ws://127.0.0.1:443 from inside the machine, retrying for `ms`. */
async function callEcho(ms: number): Promise<{ r: string; who: Record<string, string | null>; ms: number }> {
  const r = await inMachine(['/usr/lib/bulwark/node', '/root/caller.mjs', 'ws://127.0.0.1:443/', String(ms)], ms + 15_000);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { r: string; who: Record<string, string | null>; ms: number };
}

const CONFIG = `cluster: lab
nodes:
  - { name: n1, ssh: root@192.0.2.11, endpoint: 192.0.2.11 }
router:
  realms:
    - name: realm1
      roles:
        - name: backend
          permissions:
            - { uri: com.example., match: prefix, register: true, call: true, disclose: { caller: true } }
        - name: caller
          permissions:
            - { uri: com.example., match: prefix, call: true, disclose: { caller: true } }
  components:
    - { name: echo, realm: realm1, role: backend }
  listeners:
    - { type: websocket, fdName: https, auth: [anonymous] }
    - { type: redirect, fdName: http }
    - { type: rawsocket, path: /run/bulwark/components/echo/router.sock, component: echo, mode: "0666", serializers: [cbor] }
  auth:
    anonymous: { role: caller, realms: [realm1] }
`;

beforeAll(async () => {
  const lower = await ensureRootfs(LAB_CACHE, () => undefined);
  for (const d of ['upper', 'work', 'merged', 'debs/partial', 'containers']) mkdirSync(join(work, d), { recursive: true });
  // podman and its runtime for exactly what this rootfs lacks, fetched as .debs from the host's mirror.
  copyFileSync(join(lower, 'var/lib/dpkg/status'), join(work, 'status'));
  await runOk(
    [
      'apt-get',
      '-o',
      `Dir::State::status=${join(work, 'status')}`,
      '-o',
      `Dir::Cache::archives=${join(work, 'debs')}`,
      '-o',
      'Debug::NoLocking=1',
      'install',
      '--download-only',
      '-y',
      '--no-install-recommends',
      'podman',
      'crun',
      'conmon',
      'catatonit',
    ],
    { timeoutMs: 300_000 },
  );
  await runOk(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`, root]);
  mounted = true;
  mkdirSync(join(root, 'root/debs'), { recursive: true });
  for (const f of readdirSync(join(work, 'debs')).filter((x) => x.endsWith('.deb'))) copyFileSync(join(work, 'debs', f), join(root, 'root/debs', f));
  // Lab podman settings (src/containers/README.md): crun, no cgroups, ulimits the machine may set,
  // overlay storage on a host directory bound in (overlay on the machine's own overlay root fails).
  mkdirSync(join(root, 'etc/containers'), { recursive: true });
  writeFileSync(
    join(root, 'etc/containers/containers.conf'),
    '[containers]\ncgroups = "disabled"\nkeyring = false\ndefault_sysctls = []\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n[engine]\nruntime = "crun"\n',
  );
  writeFileSync(join(root, 'etc/containers/storage.conf'), '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n');
  // The runtime as bootstrap installs it.
  const rt = join(root, 'usr/lib/bulwark');
  mkdirSync(rt, { recursive: true });
  await build({
    entryPoints: [join(repo, 'src/cli/main.ts')],
    outfile: join(rt, 'bulwark.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    external: EXTERNAL,
    banner: { js: BANNER },
  });
  copyFileSync(process.execPath, join(rt, 'node'));
  cpSync(join(repo, 'units'), join(rt, 'units'), { recursive: true });
  for (const d of ['provisioning', 'firewall']) if (existsSync(join(repo, d))) cpSync(join(repo, d), join(rt, d), { recursive: true });
  writeFileSync(join(rt, 'VERSION'), '0.0.0-machine\n');
  writeFileSync(join(root, 'usr/local/sbin/bulwark'), '#!/bin/sh\nexec /usr/lib/bulwark/node /usr/lib/bulwark/bulwark.mjs "$@"\n', { mode: 0o755 });
  mkdirSync(join(root, 'etc/bulwark'), { recursive: true });
  writeFileSync(join(root, 'etc/bulwark/bulwark.yaml'), CONFIG);
  writeFileSync(join(root, 'etc/bulwark/node.json'), '{"name":"n1"}\n');
  writeFileSync(join(root, 'etc/bulwark/containers.env'), 'BULWARK_PODMAN_CGROUPS=\n');
  // Helpers run inside: the containers reconciler alone, the audit provider alone, and a WAMP caller.
  for (const [name, src] of [
    [
      'reconcile',
      "import { loadConfig } from './src/config/index.js'; import { containersReconciler } from './src/containers/reconciler.js'; import { createLogger } from './src/log/logger.js';\nconst r = await containersReconciler.reconcile({ config: loadConfig('/etc/bulwark/bulwark.yaml'), nodeName: 'n1', log: createLogger({ level: 'warn' }) });\nconsole.log(JSON.stringify(r));",
    ],
    [
      'audit',
      "import { loadConfig } from './src/config/index.js'; import { containersAudit } from './src/containers/audit.js';\nconsole.log(JSON.stringify(await containersAudit.run({ config: loadConfig('/etc/bulwark/bulwark.yaml'), nodeName: 'n1' })));",
    ],
    [
      'caller',
      "import autobahn from 'autobahn';\nconst [url, ms] = [process.argv[2] ?? 'ws://127.0.0.1:443/', Number(process.argv[3] ?? 5000)]; const t0 = Date.now();\nconst open = () => { const c = new autobahn.Connection({ url, realm: 'realm1', max_retries: 0 } as autobahn.IConnectionOptions);\n  c.onopen = async (s) => { for (;;) { try { const r = await s.call('com.example.echo', ['hello']); const who = await s.call('com.example.echo.whoami', []); console.log(JSON.stringify({ r, who, ms: Date.now() - t0 })); process.exit(0); } catch (e) { if (Date.now() - t0 > ms) { console.log(JSON.stringify(e)); process.exit(1); } await new Promise((x) => setTimeout(x, 100)); } } };\n  c.onclose = () => { if (Date.now() - t0 > ms) process.exit(2); setTimeout(open, 100); return true; };\n  c.open(); };\nopen();",
    ],
  ] as const) {
    const entry = join(repo, `.tmp-ctm-${name}-${process.pid}.ts`);
    writeFileSync(entry, src);
    try {
      await build({ entryPoints: [entry], outfile: join(root, `root/${name}.mjs`), bundle: true, platform: 'node', format: 'esm', logLevel: 'warning', external: EXTERNAL, banner: { js: BANNER } });
    } finally {
      rmSync(entry, { force: true });
    }
  }
  const image = await buildAppImageArchive(echoAppSpec(join(repo, 'test/fixtures/echo-app')), testPodmanEnv());
  copyFileSync(image.archive, join(root, 'root/echo.tar'));
  const logFd = openSync(join(work, 'console.log'), 'w');
  nspawn = spawn(
    'systemd-nspawn',
    ['-D', root, '-b', '-M', MACHINE, '--register=no', '--keep-unit', '--private-network', `--bind=${join(work, 'containers')}:/var/lib/containers`, '--console=read-only'],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } },
  );
  closeSync(logFd);
  init = await until(
    async () => {
      const kids = nspawn?.pid ? readFileSync(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean) : [];
      const pid = Number(kids[0]);
      if (!pid) return undefined;
      init = pid;
      const st = await sh('systemctl is-system-running').catch(() => undefined);
      return st && /running|degraded/.test(st.stdout) ? pid : undefined;
    },
    90_000,
    `machine ${MACHINE} to boot`,
  );
  const dpkg = await sh('dpkg -i /root/debs/*.deb', 300_000);
  expect(dpkg.code, dpkg.stdout.slice(-2000) + dpkg.stderr.slice(-2000)).toBe(0);
}, 900_000);

afterAll(async () => {
  if (nspawn?.pid && nspawn.exitCode === null) {
    const exited = new Promise<void>((r) => nspawn?.once('exit', () => r()));
    nspawn.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (nspawn.exitCode === null) {
      nspawn.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
  }
  if (mounted) await run(['umount', '-l', root]);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe(`container units under systemd (machine ${MACHINE})`, () => {
  it('the reconciler builds the router image, installs the units and starts the socket-activated router', async () => {
    const r = await inMachine(['/usr/lib/bulwark/node', '/root/reconcile.mjs'], 300_000);
    const rep = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { error?: string; drift: string[] };
    expect(rep.error, r.stdout + r.stderr).toBeUndefined();
    expect(rep.drift.join('\n')).toMatch(/router image .* \(re\)built/);
    const st = await sh('systemctl is-active bulwark-router-https.socket bulwark-router-http.socket');
    expect(st.stdout.trim().split('\n')).toEqual(['active', 'active']);
    // Until an app's socket directory exists the router cannot open its listener; it keeps retrying.
    expect((await sh('cat /etc/bulwark/router.env')).stdout).toMatch(/^BULWARK_ROUTER_IMAGE="[0-9a-f]{64}"$/m);
  });

  it('`bulwark app add echo --image-archive` starts the app; a caller on 443 reaches it through the router', async () => {
    const add = await sh('bulwark app add echo --image-archive /root/echo.tar', 300_000);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.stdout).toMatch(/bulwark-app@echo.service active\/running \(uid 60501/);
    const list = await sh('bulwark app list --json');
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'echo', active: 'active', sub: 'running', uid: 60501, realm: 'realm1', role: 'backend' })]);
    const res = await callEcho(30_000);
    expect(res.r).toBe('hello');
    expect(res.who).toMatchObject({ callee_authid: 'echo', callee_authrole: 'backend', caller_authrole: 'caller' });
    const dir = await sh('stat -c "%a %u %g" /run/bulwark/components /run/bulwark/components/echo');
    expect(dir.stdout.trim().split('\n')).toEqual(['750 0 60500', '770 60501 60500']);
    const logs = await sh('bulwark app logs echo --lines 50');
    expect(logs.stdout).toContain('echo: registered com.example.echo on realm1 as echo/backend');
  });

  it('inside the app container under systemd: only lo, no route out, read-only, no capabilities', async () => {
    const r = await sh(`podman exec bulwark-app-echo python3 -c '
import socket, re, os
print([n for _, n in socket.if_nameindex()])
try:
    socket.create_connection(("192.0.2.1", 80), timeout=2); print("connected")
except OSError as e:
    print("failed")
s = open("/proc/self/status").read()
print(re.search(r"CapEff:\\s*(\\S+)", s).group(1), os.getuid())
try:
    open("/x", "w"); print("wrote")
except OSError as e:
    print("ro", e.errno)
'`);
    expect(r.stdout.trim().split('\n'), r.stderr).toEqual(["['lo']", 'failed', '0000000000000000 60501', 'ro 30']);
  });

  it('systemctl kill -s KILL bulwark-app@echo: systemd restarts it and it is callable again within 5 s', async () => {
    const before = Number(/NRestarts=(\d+)/.exec((await sh('systemctl show -p NRestarts bulwark-app@echo')).stdout)?.[1]);
    const t0 = Date.now();
    await sh('systemctl kill -s KILL bulwark-app@echo');
    await until(async () => (/ActiveState=active/.test((await sh('systemctl show -p ActiveState bulwark-app@echo')).stdout) && Date.now() - t0 > 300 ? true : undefined), 5_000, 'echo restarted');
    const res = await callEcho(5_000 - (Date.now() - t0));
    expect(res.r).toBe('hello');
    expect(Date.now() - t0).toBeLessThan(5_000);
    const after = Number(/NRestarts=(\d+)/.exec((await sh('systemctl show -p NRestarts bulwark-app@echo')).stdout)?.[1]);
    expect(after).toBe(before + 1);
  });

  it('systemctl restart bulwark-router: the component re-registers within 5 s', async () => {
    const t0 = Date.now();
    const r = await sh('systemctl restart bulwark-router');
    expect(r.code, r.stderr).toBe(0);
    const res = await callEcho(5_000 - (Date.now() - t0));
    expect(res.r).toBe('hello');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('bulwark audit container checks all pass, with the exposure numbers', async () => {
    const r = await inMachine(['/usr/lib/bulwark/node', '/root/audit.mjs'], 120_000);
    const checks = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as { id: string; status: string; evidence: string }[];
    expect(
      checks.filter((c) => c.status !== 'pass'),
      JSON.stringify(checks, null, 1),
    ).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual(
      expect.arrayContaining(['container.router.network-none', 'container.app-echo.mounts', 'unit.bulwark-router.service.limit-core', 'unit.bulwark-app@.service.exposure']),
    );
    expect(checks.find((c) => c.id === 'unit.bulwark-app-docker@.service.exposure')?.evidence).toMatch(/^exposure \d\.\d /);
  });

  it('`bulwark app remove echo` stops and disables it and removes its socket directory', async () => {
    const r = await sh('bulwark app remove echo');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await sh('systemctl is-active bulwark-app@echo; systemctl is-enabled bulwark-app@echo; test -e /run/bulwark/components/echo; echo dir=$?')).stdout.trim().split('\n')).toEqual([
      'inactive',
      'disabled',
      'dir=1',
    ]);
    expect(JSON.parse((await sh('bulwark app list --json')).stdout)).toEqual([]);
  });
});
