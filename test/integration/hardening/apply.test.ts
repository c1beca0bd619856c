import { lstat, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyHardening, applySysctls, maskUnits, writeManagedFiles, type HardeningHost } from '../../../src/hardening/apply.js';
import { renderHardening } from '../../../src/hardening/render.js';
import { hardeningSchema } from '../../../src/hardening/schema.js';
import { run, runOk } from '../../../src/util/exec.js';

const NS = 'bwt-hd';
const inNs = (argv: string[]) => run(argv, { netns: NS, timeoutMs: 15_000 });
/** /proc/sys read-only, as inside an nspawn machine: a private mount namespace with /proc/sys bound read-only. */
const readOnly = (argv: string[]) =>
  run(['unshare', '-m', 'sh', '-c', 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"', 'sh', ...argv], { netns: NS, timeoutMs: 15_000 });
let root = '';

describe('hardening adapter', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bwt-hd-'));
    await run(['ip', 'netns', 'del', NS]);
    await runOk(['ip', 'netns', 'add', NS]);
  });
  afterAll(async () => {
    await run(['ip', 'netns', 'del', NS]);
    await rm(root, { recursive: true, force: true });
  });

  it('writes files idempotently under a root dir and rewrites only a drifted one', async () => {
    const { files, masked } = renderHardening(hardeningSchema.parse({}), { id: 'ubuntu' });
    const first = await writeManagedFiles(files, root);
    expect(first.every((f) => f.status === 'written')).toBe(true);
    expect((await writeManagedFiles(files, root)).every((f) => f.status === 'unchanged')).toBe(true);
    await writeFile(join(root, '/etc/security/limits.d/90-bulwark-core.conf'), '* soft core unlimited\n');
    const again = await writeManagedFiles(files, root);
    expect(again.filter((f) => f.status === 'written').map((f) => f.path)).toEqual(['/etc/security/limits.d/90-bulwark-core.conf']);
    const m1 = await maskUnits(masked, root);
    expect(m1.every((m) => m.status === 'written')).toBe(true);
    expect(await readlink(join(root, '/etc/systemd/system/apport.service'))).toBe('/dev/null');
    expect((await lstat(join(root, '/etc/systemd/system/kdump-tools.service'))).isSymbolicLink()).toBe(true);
    expect((await maskUnits(masked, root)).every((m) => m.status === 'unchanged')).toBe(true);
  });

  it('applies network sysctls live in a namespace and reads them back', async () => {
    await runOk(['sysctl', '-w', 'net.ipv4.conf.all.log_martians=0', 'net.ipv4.conf.all.send_redirects=1'], { netns: NS });
    const r = await applySysctls(
      [
        { key: 'net.ipv4.conf.all.log_martians', value: '1' },
        { key: 'net.ipv4.conf.all.send_redirects', value: '0' },
        { key: 'net.ipv4.no_such_key', value: '1' },
      ],
      inNs,
    );
    expect(r.map((x) => [x.key, x.detail])).toEqual([
      ['net.ipv4.conf.all.log_martians', 'live'],
      ['net.ipv4.conf.all.send_redirects', 'live'],
      ['net.ipv4.no_such_key', 'written, not live: unknown key on this kernel'],
    ]);
    expect((await runOk(['sysctl', '-n', 'net.ipv4.conf.all.log_martians'], { netns: NS })).stdout.trim()).toBe('1');
  });

  it('with /proc/sys read-only says "written, not live: read-only", never "live", for values it could not set', async () => {
    await runOk(['sysctl', '-w', 'net.ipv4.conf.all.log_martians=0'], { netns: NS });
    const host: HardeningHost = { root, exec: readOnly, systemdRunning: false };
    const rep = await applyHardening(hardeningSchema.parse({}), host);
    const martians = rep.sysctls.find((s) => s.key === 'net.ipv4.conf.all.log_martians');
    expect(martians).toMatchObject({ status: 'not-live', detail: 'written, not live: read-only', live: '0' });
    for (const s of rep.sysctls) {
      if (s.status === 'live') expect(s.live).toBe(s.want);
      else expect(s.detail).toMatch(/^written, not live: (read-only|unknown key on this kernel)$/);
    }
    expect(rep.notes).toContain('net.ipv4.conf.all.log_martians written, not live: read-only');
    expect(rep.files.every((f) => f.status === 'unchanged' || f.status === 'written')).toBe(true);
  });
});

describe('hardening reconciler and audit', () => {
  const NS2 = 'bwt-hd2';
  let root2 = '';
  beforeAll(async () => {
    root2 = await mkdtemp(join(tmpdir(), 'bwt-hd2-'));
    await run(['ip', 'netns', 'del', NS2]);
    await runOk(['ip', 'netns', 'add', NS2]);
    await runOk(['sysctl', '-w', 'net.ipv4.conf.all.log_martians=0'], { netns: NS2 });
  });
  afterAll(async () => {
    await run(['ip', 'netns', 'del', NS2]);
    await rm(root2, { recursive: true, force: true });
  });
  const host = (): HardeningHost => ({
    root: root2,
    exec: (argv) => run(['unshare', '-m', 'sh', '-c', 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"', 'sh', ...argv], { netns: NS2, timeoutMs: 15_000 }),
    systemdRunning: false,
  });

  it('writes everything once, then only repairs drift; audit passes files and marks read-only values n/a', async () => {
    const { hardeningReconciler } = await import('../../../src/hardening/reconciler.js');
    const { hardeningAudit } = await import('../../../src/hardening/audit.js');
    const { parseConfig } = await import('../../../src/config/index.js');
    const { pino } = await import('pino');
    const config = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n');
    const ctx = { config, nodeName: 'n1', log: pino({ level: 'silent' }) };
    const rec = hardeningReconciler(host);
    const first = await rec.reconcile(ctx);
    expect(first.error).toBeUndefined();
    expect(first.changed).toBe(true);
    expect(first.notes).toContain('net.ipv4.conf.all.log_martians written, not live: read-only');
    const second = await rec.reconcile(ctx);
    expect(second).toMatchObject({ changed: false, drift: [] });
    await rm(join(root2, '/etc/systemd/coredump.conf.d/90-bulwark.conf'));
    const third = await rec.reconcile(ctx);
    expect(third.drift).toEqual(['/etc/systemd/coredump.conf.d/90-bulwark.conf rewritten (missing or changed)']);
    const checks = await hardeningAudit(host).run({ config, nodeName: 'n1' });
    const byId = new Map(checks.map((c) => [c.id, c]));
    for (const id of [
      'dumps.sysctl-file',
      'dumps.coredump-conf',
      'dumps.coredump-dropin',
      'dumps.limits',
      'dumps.systemd-limit',
      'dumps.profile',
      'dumps.kdump',
      'sysctl-file',
      'dumps.kdump-service.kdump-tools.service',
    ]) {
      expect(byId.get(id)?.status, id).toBe('pass');
    }
    expect(byId.get('sysctl.net.ipv4.conf.all.log_martians')).toEqual({
      id: 'sysctl.net.ipv4.conf.all.log_martians',
      status: 'n/a',
      evidence: 'written, not live: read-only (kernel shows 0)',
      baseline: 'CIS Debian 12 L1: Ensure suspicious packets are logged',
    });
    await writeFile(join(root2, '/etc/security/limits.d/90-bulwark-core.conf'), '* soft core unlimited\n');
    const after = await hardeningAudit(host).run({ config, nodeName: 'n1' });
    expect(after.find((c) => c.id === 'dumps.limits')?.status).toBe('fail');
  });
});
