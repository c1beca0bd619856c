/**
 * The router container as bulwark-router.service runs it: the image built from a runtime directory
 * (node + bundle, here a probe bundle in place of the CLI), ports handed in by socket activation with
 * names (systemd-socket-activate plays systemd's part), and the container with no network, a
 * read-only root, no capabilities and a non-root user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podmanRouterArgv, ROUTER_CONTAINER } from '../../../src/containers/argv.js';
import { ensureRouterImage, type ImageRecord } from '../../../src/containers/image-router.js';
import { podman } from '../../../src/containers/podman.js';
import { ROUTER_COMMAND } from '../../../src/containers/unit-params.js';
import { parseEnvFile } from '../../../src/systemd/units.js';
import { podmanEnvVars, testPodmanEnv } from './podman-env.js';

const env = testPodmanEnv();
const work = mkdtempSync('/var/tmp/bwt-ctr-router-');
const runtimeDir = join(work, 'runtime');
const UID = 60500;
/** Two free loopback ports below the kernel's ephemeral range (32768+), so no outgoing connection takes them. */
let PORTS: readonly [number, number] = [0, 0];
async function freePortPair(): Promise<readonly [number, number]> {
  const free = (port: number) =>
    new Promise<boolean>((res) => {
      const srv = createServer();
      srv.once('error', () => res(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
    });
  for (let base = 20000 + ((process.pid * 7) % 12000); ; base = 20000 + ((base + 2 - 20000) % 12000)) {
    if ((await free(base)) && (await free(base + 1))) return [base, base + 1];
  }
}
let record: ImageRecord;
/** Every image id this test made (removed at the end). */
const made = new Set<string>();
let activator: ChildProcess | undefined;

function readLine(port: number, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer on ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d) => (buf += d.toString()));
    s.on('end', () => {
      clearTimeout(t);
      resolve(buf.trim());
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

beforeAll(async () => {
  mkdirSync(runtimeDir, { recursive: true });
  await build({ entryPoints: [join(import.meta.dirname, 'fd-probe.ts')], outfile: join(runtimeDir, 'bulwark.mjs'), bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
  copyFileSync(process.execPath, join(runtimeDir, 'node'));
  writeFileSync(join(runtimeDir, 'VERSION'), '0.0.0-test\n');
  for (const d of ['components', 'etc', 'state', 'principals', 'enrolments', 'fabric']) mkdirSync(join(work, d));
});

afterAll(async () => {
  activator?.kill('SIGKILL');
  await podman(['rm', '--force', '--ignore', '--time', '0', ROUTER_CONTAINER], env);
  if (record) made.add(record.id);
  for (const id of made) await podman(['rmi', '--force', id], env);
  rmSync(work, { recursive: true, force: true });
});

describe('router image and container', () => {
  it('builds the image from the runtime (node + bundle + libs + passwd), records its id, and is reproducible', async () => {
    const spec = { runtimeDir, include: ['node', 'bulwark.mjs', 'VERSION'], entry: 'bulwark.mjs', uid: UID, tag: '0.0.0-test' };
    const opts = { env, imagesJson: join(work, 'images.json'), routerEnv: join(work, 'router.env') };
    const first = await ensureRouterImage(spec, opts);
    record = first.record;
    made.add(record.id);
    expect(record.id).toMatch(/^[0-9a-f]{64}$/);
    const images = JSON.parse(readFileSync(opts.imagesJson, 'utf8')) as { router: ImageRecord };
    expect(images.router.id).toBe(record.id);
    expect(parseEnvFile(readFileSync(opts.routerEnv, 'utf8'))).toEqual({ BULWARK_ROUTER_IMAGE: record.id, BULWARK_ROUTER_USER: `${UID}:${UID}` });
    // Same runtime: nothing rebuilt, nothing rewritten (fast path on the inputs' sizes and mtimes).
    const again = await ensureRouterImage(spec, opts);
    expect(again.changed).toBe(false);
    expect(again.record.id).toBe(record.id);
    // A touched but identical runtime is staged again and gives the same rootfs digest: no new image.
    utimesSync(join(runtimeDir, 'VERSION'), new Date(), new Date(Date.now() + 5000));
    const touched = await ensureRouterImage(spec, opts);
    expect(touched.changed).toBe(false);
    expect(touched.record.rootfsSha256).toBe(record.rootfsSha256);
    expect(touched.record.id).toBe(record.id);
    // A changed runtime gives a new image.
    writeFileSync(join(runtimeDir, 'VERSION'), '0.0.1-test\n');
    const changed = await ensureRouterImage(spec, opts);
    expect(changed.changed).toBe(true);
    made.add(changed.record.id);
    expect(changed.record.id).not.toBe(record.id);
    await podman(['rmi', '--force', changed.record.id], env);
    writeFileSync(join(runtimeDir, 'VERSION'), '0.0.0-test\n');
    record = (await ensureRouterImage(spec, opts)).record;
    // The image holds only the runtime, the libraries node needs and the accounts.
    // (runtimeDir stands in for /usr/lib/bulwark here, so the entrypoint is its node.)
    const ls2 = await podman(
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--entrypoint',
        join(runtimeDir, 'node'),
        record.id,
        '-e',
        'const fs=require("fs");console.log(JSON.stringify({top:fs.readdirSync("/").sort(),passwd:fs.readFileSync("/etc/passwd","utf8"),bin:fs.existsSync("/bin/sh")}))',
      ],
      env,
    );
    expect(ls2.code, ls2.stderr).toBe(0);
    const seen = JSON.parse(ls2.stdout) as { top: string[]; passwd: string; bin: boolean };
    expect(seen.bin).toBe(false); // no shell in the image
    expect(seen.passwd).toContain(`bulwark-router:x:${UID}:${UID}:`);
    expect(seen.top).not.toContain('home');
  });

  it('receives 443/80 stand-ins by name from socket activation while running with no network, read-only, no caps, non-root', async () => {
    expect(record).toBeDefined();
    PORTS = await freePortPair();
    const argv = podmanRouterArgv(
      {
        image: record.id,
        user: `${UID}:${UID}`,
        memory: '256m',
        pids: '64',
        command: [...ROUTER_COMMAND],
        hostPaths: {
          components: join(work, 'components'),
          etc: join(work, 'etc'),
          state: join(work, 'state'),
          principals: join(work, 'principals'),
          enrolments: join(work, 'enrolments'),
          fabric: join(work, 'fabric'),
        },
      },
      'podman',
    );
    // Order of --listen and of names differs on purpose: the router must map by name, not position.
    activator = spawn(
      'systemd-socket-activate',
      ['-E', 'PATH', '-E', 'CONTAINERS_CONF', '-E', 'CONTAINERS_STORAGE_CONF', '-l', `127.0.0.1:${PORTS[1]}`, '-l', `127.0.0.1:${PORTS[0]}`, '--fdname=http:https', ...argv],
      {
        env: podmanEnvVars(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    activator.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    // Wait until the activator listens, then the first connection starts the container.
    let exited: number | null = null;
    activator.once('exit', (code) => (exited = code ?? -1));
    const deadline = Date.now() + 30_000;
    while (!/Listening on .*:\d+ as 4/.test(log) && Date.now() < deadline && exited === null) await new Promise((r) => setTimeout(r, 50));
    expect(exited, `systemd-socket-activate exited: ${log}`).toBeNull();
    expect(log, 'systemd-socket-activate never listened').toMatch(/Listening on .*:\d+ as 4/);
    const https = JSON.parse(await readLine(PORTS[0], 60_000)) as Record<string, unknown>;
    const http = JSON.parse(await readLine(PORTS[1])) as Record<string, unknown>;
    expect(https.name).toBe('https');
    expect(http.name).toBe('http');
    expect(https.fd).toBe(4);
    expect(http.fd).toBe(3);
    expect(https.names).toEqual(['http', 'https']);
    expect(https.pid).toBe(1);
    expect(https.uid).toBe(UID);
    expect(https.capEff).toBe('0000000000000000');
    expect(https.ifaces).toEqual(['lo']);
    expect(https.rootWritable).toBe(false);
    expect(https.argv).toEqual([...ROUTER_COMMAND]);
    const inspect = await podman(['inspect', '--format', '{{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}}', ROUTER_CONTAINER], env);
    expect(inspect.stdout.trim()).toBe(`none true ${UID}:${UID}`);
    expect(existsSync(join(work, 'components'))).toBe(true);
  });
});
