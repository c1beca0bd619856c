import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { applySshd, hupPidFile, SshdConfigError, type SshdHost } from '../../../src/sshd/apply.js';
import { sshdAudit } from '../../../src/sshd/audit.js';
import { sshdReconciler } from '../../../src/sshd/reconciler.js';
import { sshServerSchema } from '../../../src/sshd/schema.js';
import { run, runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs, waitFor } from '../firewall/netns.js';

// A private sshd (Debian's OpenSSH) in a node namespace with its own main config that, like Debian's, starts with
// an Include of its sshd_config.d and then sets X11Forwarding yes; clients (OpenSSH's ssh, and Bulwark's own
// NodeSession over ssh2) in a client namespace. The drop-in is written, checked and reloaded by src/sshd/apply.ts.
const NODE = 'bwt-sshd-n';
const CLIENT = 'bwt-sshd-c';
const IP = '198.51.100.11';
const CLIENT_JS = fileURLToPath(new URL('./ssh2-client.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bwt-sshd-'));
const f = (p: string) => join(dir, p);
const children: ChildProcess[] = [];
let reloads = 0;
const host = (over: Partial<SshdHost> = {}): SshdHost => ({
  dropIn: f('sshd_config.d/00-bulwark.conf'),
  mainConfig: f('sshd_config'),
  exec: (argv) => run(argv, { timeoutMs: 15_000 }),
  reload: async () => {
    reloads++;
    return hupPidFile(f('sshd.pid'), (argv) => run(argv));
  },
  ...over,
});
const CONFIG = (server = '') => `cluster: t\nnodes:\n  - {name: n1, ssh: root@${IP}, endpoint: 192.0.2.11}\nssh:\n  identityFile: ${f('id')}\n${server}`;
const cfg = parseConfig(CONFIG());

/** OpenSSH's client from the client namespace with our key; extra options after. */
async function ssh(...opts: string[]): Promise<{ code: number; err: string }> {
  const r = await run(
    [
      'ssh',
      '-F',
      '/dev/null',
      '-i',
      f('id'),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=5',
      ...opts,
      `root@${IP}`,
      'true',
    ],
    { netns: CLIENT, timeoutMs: 20_000 },
  );
  return { code: r.code, err: r.stderr };
}
async function ssh2(mode: 'password' | 'forward'): Promise<{ error?: string; reason?: number; forwarded?: boolean }> {
  const r = await runOk([process.execPath, CLIENT_JS, mode, IP, f('id')], { netns: CLIENT, timeoutMs: 30_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { error?: string };
}
/** Bulwark's NodeSession held open in the client namespace: send a command, get its JSON result. */
function session(configPath: string) {
  const child = spawn('ip', ['netns', 'exec', CLIENT, process.execPath, CLIENT_JS, 'session', configPath, 'n1', f('known_hosts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  child.stdout?.on('data', (b: Buffer) =>
    lines.push(
      ...b
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    ),
  );
  const next = async () => {
    const n = lines.length;
    expect(await waitFor(async () => lines.length > n || child.exitCode !== null, 20_000)).toBe(true);
    return lines[n] ?? {};
  };
  return {
    ready: async () => {
      expect(await waitFor(async () => lines.length > 0, 20_000)).toBe(true);
      return lines[0] ?? {};
    },
    send: async (cmd: string) => {
      const p = next();
      child.stdin?.write(`${cmd}\n`);
      return p;
    },
    close: () => child.stdin?.end(),
  };
}
const listening = async () => (await run(['ss', '-Hltn', `src ${IP}:22`], { netns: NODE })).stdout.includes(':22');

describe('hardened sshd: drop-in, sshd -t, reload, effective values, Bulwark’s own SSH', () => {
  beforeAll(async () => {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o700);
    mkdirSync(f('sshd_config.d'), { mode: 0o755 });
    await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', f('hostkey')]);
    await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', f('id')]);
    writeFileSync(f('authorized_keys'), readFileSync(f('id.pub')), { mode: 0o600 });
    writeFileSync(
      f('sshd_config'),
      [
        `Include ${f('sshd_config.d')}/*.conf`,
        `HostKey ${f('hostkey')}`,
        `PidFile ${f('sshd.pid')}`,
        `AuthorizedKeysFile ${f('authorized_keys')}`,
        // the key lives in a temp dir, not in a home directory sshd would check
        'StrictModes no',
        `ListenAddress ${IP}`,
        'KbdInteractiveAuthentication no',
        'UsePAM yes',
        'X11Forwarding yes',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        '',
      ].join('\n'),
    );
    writeFileSync(f('bulwark.yaml'), CONFIG());
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'sshd-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'sshd-c0', 'netns', CLIENT]);
    await inNs(NODE, 'ip', 'addr', 'add', `${IP}/24`, 'dev', 'sshd-n0');
    await inNs(CLIENT, 'ip', 'addr', 'add', '198.51.100.5/24', 'dev', 'sshd-c0');
    await inNs(NODE, 'ip', 'link', 'set', 'sshd-n0', 'up');
    await inNs(CLIENT, 'ip', 'link', 'set', 'sshd-c0', 'up');
    const d = spawn('ip', ['netns', 'exec', NODE, '/usr/sbin/sshd', '-D', '-e', '-f', f('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(d);
    d.stderr?.on('data', () => undefined);
    expect(await waitFor(listening, 10_000)).toBe(true);
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    const pid = (() => {
      try {
        return readFileSync(f('sshd.pid'), 'utf8').trim();
      } catch {
        return '';
      }
    })();
    if (/^\d+$/.test(pid)) await run(['kill', pid]);
    await delNetns(NODE, CLIENT);
    rmSync(dir, { recursive: true, force: true });
  });

  let held: ReturnType<typeof session>;

  it('before: stock sshd takes a CTR cipher (so what is refused later is the drop-in’s doing); a Bulwark session opens', async () => {
    expect((await ssh('-c', 'aes128-ctr')).code).toBe(0);
    held = session(f('bulwark.yaml'));
    expect(await held.ready()).toEqual({ ready: true });
    expect(await held.send('echo before')).toMatchObject({ code: 0, stdout: 'before\n' });
  });

  it('writes the drop-in (0600), passes sshd -t, reloads once; a second pass changes nothing', async () => {
    const r = await applySshd(cfg.ssh.server, host());
    expect(r.status).toBe('written');
    expect(r.version).toEqual({ major: 9, minor: 2 });
    expect(r.notes.join('\n')).toMatch(/reloaded \(SIGHUP\)/);
    expect(statSync(f('sshd_config.d/00-bulwark.conf')).mode & 0o777).toBe(0o600);
    expect((await run(['sshd', '-t', '-f', f('sshd_config')])).code).toBe(0);
    expect(reloads).toBe(1);
    expect((await applySshd(cfg.ssh.server, host())).status).toBe('unchanged');
    expect(reloads).toBe(1);
    // SIGHUP makes sshd re-exec itself: it listens again shortly
    expect(await waitFor(async () => (await ssh()).code === 0, 10_000, 200)).toBe(true);
  });

  it('the session open across the reload keeps working (reload, not restart)', async () => {
    expect(await held.send('echo after')).toMatchObject({ code: 0, stdout: 'after\n' });
  });

  it('sshd -T shows every directive in effect (the drop-in wins over the main file’s X11Forwarding yes), each CIS check named', async () => {
    const checks = await sshdAudit(host).run({ config: cfg, nodeName: 'n1' });
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(checks.find((c) => c.id === 'sshd.X11Forwarding')).toMatchObject({ status: 'pass', evidence: 'no' });
    expect(checks.find((c) => c.id === 'sshd.MaxAuthTries')).toMatchObject({ evidence: '3', baseline: 'CIS Debian 12 L1: Ensure sshd MaxAuthTries is configured' });
    expect(checks.find((c) => c.id === 'sshd.PermitRootLogin')?.evidence).toMatch(/root by key only/);
    expect(checks.length).toBeGreaterThan(25);
  });

  it('Bulwark’s own client (NodeSession over ssh2) logs in, runs commands and uploads over SFTP', async () => {
    const s = session(f('bulwark.yaml'));
    expect(await s.ready()).toEqual({ ready: true });
    writeFileSync(f('payload'), 'runtime bytes');
    expect(await s.send(`upload ${f('payload')} ${f('uploaded')}`)).toEqual({ uploaded: f('uploaded') });
    expect(readFileSync(f('uploaded'), 'utf8')).toBe('runtime bytes');
    expect(await s.send('id -u')).toMatchObject({ code: 0, stdout: '0\n' });
    s.close();
    // OpenSSH's client with its defaults, too
    expect((await ssh()).code).toBe(0);
  });

  it('refuses passwords, weak ciphers, old key exchange and forwarding', async () => {
    const pw = await ssh('-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive');
    expect(pw.code).toBe(255);
    expect(pw.err).toMatch(/Permission denied \(publickey\)/);
    expect((await ssh2('password')).error).toMatch(/All configured authentication methods failed/);
    for (const c of ['aes128-cbc', 'aes128-ctr']) {
      const r = await ssh('-c', c);
      expect(r.code).toBe(255);
      expect(r.err).toMatch(/no matching cipher found/);
    }
    const kex = await ssh('-o', 'KexAlgorithms=diffie-hellman-group14-sha256,ecdh-sha2-nistp256');
    expect(kex.err).toMatch(/no matching key exchange method found/);
    expect(await ssh2('forward')).toMatchObject({ error: expect.stringMatching(/Channel open failure/), reason: 1 });
  });

  it('a drop-in sshd rejects is taken back: the old file stays and sshd keeps working', async () => {
    const before = readFileSync(f('sshd_config.d/00-bulwark.conf'), 'utf8');
    // claim OpenSSH 10.0: the renderer adds ML-KEM key exchange, which this 9.2 sshd does not know
    const lying = host({
      exec: async (argv) => (argv[1] === '-V' ? { code: 0, stdout: '', stderr: 'OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1\n' } : run(argv, { timeoutMs: 15_000 })),
    });
    const n = reloads;
    await expect(applySshd(cfg.ssh.server, lying)).rejects.toThrow(SshdConfigError);
    await expect(applySshd(cfg.ssh.server, lying)).rejects.toThrow(/previous file restored: .*mlkem768x25519-sha256/);
    expect(readFileSync(f('sshd_config.d/00-bulwark.conf'), 'utf8')).toBe(before);
    expect(reloads).toBe(n);
    expect((await ssh()).code).toBe(0);
  });

  it('an override is seen in the effective values and a changed drop-in is repaired by the reconciler', async () => {
    writeFileSync(f('sshd_config.d/0-override.conf'), 'PasswordAuthentication yes\nMaxAuthTries 6\n');
    const over = await sshdAudit(host).run({ config: cfg, nodeName: 'n1' });
    expect(over.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['sshd.PasswordAuthentication', 'sshd.MaxAuthTries']);
    expect(over.find((c) => c.id === 'sshd.MaxAuthTries')?.evidence).toBe('sshd -T shows 6, want 3');
    rmSync(f('sshd_config.d/0-override.conf'));
    writeFileSync(f('sshd_config.d/00-bulwark.conf'), 'PasswordAuthentication yes\n', { mode: 0o644 });
    const rec = await sshdReconciler(host).reconcile({ config: cfg, nodeName: 'n1', log: pino({ level: 'silent' }) });
    expect(rec).toMatchObject({ changed: true, drift: [`${f('sshd_config.d/00-bulwark.conf')} rewritten (missing or changed)`] });
    expect((await sshdAudit(host).run({ config: cfg, nodeName: 'n1' })).filter((c) => c.status !== 'pass')).toEqual([]);
  });

  it('with adminUser, root may not log in at all; back to root-by-key after', async () => {
    const admin = sshServerSchema.parse({ adminUser: 'bwtadmin' });
    expect((await applySshd(admin, host())).status).toBe('written');
    expect(await waitFor(async () => /Permission denied/.test((await ssh()).err), 10_000, 200)).toBe(true);
    expect((await applySshd(cfg.ssh.server, host())).status).toBe('written');
    expect(await waitFor(async () => (await ssh()).code === 0, 10_000, 200)).toBe(true);
    held.close();
  });
});
