import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImageArchive, echoAppSpec } from '../helpers/image-app.js';
import { callFromOutside, ISOLATED, ISOLATION_PROBE } from '../helpers/apps.js';
import { bulwark, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';

// The whole story of the high-security setup on the lab: an app container with no network reaches the
// router only through its own socket; an outside client reaches the app only through the router on 443.
const dir = mkdtempSync(join(tmpdir(), 'bw-apps-'));
const CA = join(dir, 'n1-cert.pem');
const URL = 'wss://192.0.2.11/';
let archive = '';

/** Calls PROCEDURE on n1 from the outside namespace, retrying for up to `untilMs`. */
const call = (procedure: string, args: unknown[], untilMs = 0) => callFromOutside(URL, CA, procedure, args, untilMs);

/** Runs Python inside an app container (podman exec), one statement per line. */
const inApp = (app: string, py: string) => onMachine('n1', `podman exec -i bulwark-app-${app} python3 -`, 60_000, py + '\n');

beforeAll(async () => {
  archive = (await buildAppImageArchive(echoAppSpec(resolve('test/fixtures/echo-app')))).archive;
  // The agent builds the router image from the shipped runtime and starts the socket-activated router.
  await waitFor('router active on n1', async () => (await onMachine('n1', 'systemctl is-active bulwark-router')).stdout.trim() === 'active', 180_000, 1000);
  // Pin the certificate n1 made for itself.
  writeFileSync(CA, (await onMachine('n1', 'cat /var/lib/bulwark/router/tls/cert.pem')).stdout);
}, 900_000);
afterAll(async () => {
  await bulwark(['app', 'remove', 'other', '--node', 'n1']);
  await bulwark(['app', 'remove', 'echo', '--node', 'n1']);
  rmSync(dir, { recursive: true, force: true });
});

describe('apps on the lab, end to end', () => {
  it('app add echo: an outside client calls it over wss (certificate pinned) with the configured identities', async () => {
    const add = await bulwark(['app', 'add', 'echo', '--image-archive', archive, '--realm', 'app', '--role', 'backend', '--node', 'n1'], { timeoutMs: 300_000 });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const r = await call('com.example.echo', ['hello from outside'], 30_000);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, result: 'hello from outside' });
    const who = await call('com.example.echo.whoami', []);
    // Caller: anonymous on the public listener, role public (disclosed by that role's rule); callee: the
    // identity its socket gave it, whatever its HELLO said.
    expect(who.result).toMatchObject({ caller_authrole: 'public', callee_authid: 'echo', callee_authrole: 'backend' });
    const logs = await bulwark(['app', 'logs', 'echo', '--node', 'n1', '--lines', '50']);
    expect(logs.stdout).toContain('echo: registered com.example.echo on app as echo/backend');
  });

  it('a client without the pinned certificate is refused by TLS verification', async () => {
    const r = await runCmd([
      'ip',
      'netns',
      'exec',
      OUTSIDE_NS,
      'node',
      '-e',
      `new (require('ws'))('${URL}').on('error', (e) => { console.log(e.code); process.exit(0); }).on('open', () => process.exit(1))`,
    ]);
    expect(r.stdout.trim()).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
  });

  it('inside the app container only lo exists, nothing can be reached, root is read-only, no capabilities', async () => {
    const r = await inApp('echo', ISOLATION_PROBE);
    expect(r.stdout.trim().split('\n'), r.stderr).toEqual(ISOLATED);
  });

  it("adding a second app does not drop the first app's session; the app cannot reach the other's socket", async () => {
    const echoLog = async () => (await bulwark(['app', 'logs', 'echo', '--node', 'n1', '--lines', '200'])).stdout;
    const registered = async () => ((await echoLog()).match(/echo: registered/g) ?? []).length;
    const before = await registered();
    const add = await bulwark(['app', 'add', 'other', '--image-archive', archive, '--realm', 'app', '--role', 'backend', '--node', 'n1'], { timeoutMs: 300_000 });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect((await call('com.example.other', ['second'], 30_000)).result).toBe('second');
    expect((await call('com.example.echo', ['first still'])).result).toBe('first still');
    const after = await registered();
    if (after !== before) {
      // what ended echo's session: its own log and the router's, for the failure report
      const router = await onMachine('n1', 'journalctl -u bulwark-router -u bulwark-app@echo --no-pager -n 80 -o short-monotonic');
      expect(after, `${await echoLog()}\n--- journal ---\n${router.stdout}${router.stderr}`).toBe(before);
    }
    // From inside echo's container, other's socket does not even exist (only echo's directory is mounted).
    const probe = await inApp(
      'echo',
      'import socket, os\nprint(sorted(os.listdir("/run/wamp")))\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect("/run/bulwark/components/other/router.sock"); print("connected")\nexcept OSError as e:\n    print("refused", e.errno)',
    );
    expect(probe.stdout.trim().split('\n')).toEqual(["['router.sock']", 'refused 2']);
  });

  it('systemctl kill -s KILL bulwark-app@echo: systemd restarts it and it is callable again within 5 s', async () => {
    const t0 = Date.now();
    await onMachine('n1', 'systemctl kill -s KILL bulwark-app@echo');
    const r = await call('com.example.echo', ['back'], 15_000);
    const ms = Date.now() - t0;
    process.stderr.write(`[system] app killed → callable again after ${ms} ms\n`);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(ms).toBeLessThan(5_000);
  });

  it('systemctl restart bulwark-router: the component re-registers within 5 s', async () => {
    const t0 = Date.now();
    await onMachine('n1', 'systemctl restart bulwark-router');
    const r = await call('com.example.echo', ['again'], 15_000);
    const ms = Date.now() - t0;
    process.stderr.write(`[system] router restarted → echo callable again after ${ms} ms\n`);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(ms).toBeLessThan(5_000);
  });
});
