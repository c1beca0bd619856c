import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLayoutScript, pruneScript, releaseId, rollbackScript, stageScript, switchScript, type ReleaseLayout } from '../../../src/provision/releases.js';
import { run } from '../../../src/util/exec.js';

// The release layout's scripts, run by bash against a layout under a temporary directory.
const tmp = mkdtempSync(join(tmpdir(), 'bw-releases-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const layout = (name: string): ReleaseLayout => {
  const base = join(tmp, name);
  mkdirSync(join(base, 'etc/systemd/system'), { recursive: true });
  mkdirSync(join(base, 'usr/local/sbin'), { recursive: true });
  return { root: join(base, 'opt/bulwark'), link: join(base, 'usr/lib/bulwark'), wrapper: join(base, 'usr/local/sbin/bulwark'), unitDir: join(base, 'etc/systemd/system') };
};

/** A runtime artifact whose `node` prints its version (the wrapper runs `node bulwark.mjs ARGS`). */
async function artifact(version: string): Promise<{ path: string; sha256: string }> {
  const dir = join(tmp, `art-${version}`);
  mkdirSync(join(dir, 'units'), { recursive: true });
  writeFileSync(join(dir, 'node'), `#!/bin/sh\necho "runtime ${version} $*"\n`);
  chmodSync(join(dir, 'node'), 0o755);
  writeFileSync(join(dir, 'bulwark.mjs'), `// ${version}\n`);
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  writeFileSync(join(dir, 'units/bulwark-agent.service'), `[Service]\nExecStart=/usr/lib/bulwark/node agent # ${version}\n`);
  const path = join(tmp, `runtime-${version}.tar.gz`);
  const r = await run(['bash', '-c', `tar -C ${dir} -czf ${path} .`]);
  expect(r.code, r.stderr).toBe(0);
  return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

const sh = async (script: string) => run(['bash', '-c', script]);
/** The upload step: the tarball copied where stageScript expects it (it removes it afterwards). */
const upload = (l: ReleaseLayout, a: { path: string }) => {
  const f = join(l.root, '..', 'upload.tar.gz');
  mkdirSync(join(l.root, '..'), { recursive: true });
  writeFileSync(f, readFileSync(a.path));
  return f;
};
const install = async (l: ReleaseLayout, a: { path: string; sha256: string }) => {
  const st = await sh(stageScript(upload(l, a), a.sha256, l));
  expect(st.code, st.stderr).toBe(0);
  const sw = await sh(switchScript(a.sha256, l, { daemonReload: false }));
  expect(sw.code, sw.stderr).toBe(0);
  return sw.stdout.trim().split('\n').at(-1);
};

describe('runtime releases on a node', () => {
  it('stage + switch: current and previous links, the wrapper follows current, the agent unit of the release is installed', async () => {
    const l = layout('basic');
    const a = await artifact('1.0.0');
    const b = await artifact('1.1.0');
    expect(await install(l, a)).toMatch(new RegExp(`switched  ${releaseId(a.sha256)}$`));
    expect((await sh(`${l.wrapper} --version`)).stdout.trim()).toBe(`runtime 1.0.0 ${l.link}/bulwark.mjs --version`);
    expect(await install(l, b)).toBe(`switched ${releaseId(a.sha256)} ${releaseId(b.sha256)}`);
    expect(readlinkSync(join(l.root, 'current'))).toBe(`releases/${releaseId(b.sha256)}`);
    expect(readlinkSync(join(l.root, 'previous'))).toBe(`releases/${releaseId(a.sha256)}`);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('1.1.0\n');
    expect(readFileSync(join(l.unitDir, 'bulwark-agent.service'), 'utf8')).toMatch(/# 1\.1\.0/);
    // switching to what is current already changes nothing
    expect((await sh(switchScript(b.sha256, l, { daemonReload: false }))).stdout.trim()).toBe('same');
    expect(readlinkSync(join(l.root, 'previous'))).toBe(`releases/${releaseId(a.sha256)}`);
  });

  it('rollback puts previous back (and its agent unit), marks the bad one failed; prune keeps only current and previous', async () => {
    const l = layout('rollback');
    const [a, b, c] = [await artifact('2.0.0'), await artifact('2.1.0'), await artifact('2.2.0')];
    await install(l, a);
    await install(l, b);
    await install(l, c);
    const rb = await sh(rollbackScript(l, { daemonReload: false }));
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout.trim().split('\n').at(-1)).toBe(`rolled-back ${releaseId(c.sha256)} ${releaseId(b.sha256)}`);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('2.1.0\n');
    expect(readFileSync(join(l.unitDir, 'bulwark-agent.service'), 'utf8')).toMatch(/# 2\.1\.0/);
    expect(readlinkSync(join(l.root, 'failed'))).toBe(`releases/${releaseId(c.sha256)}`);
    expect((await sh(pruneScript(l))).code).toBe(0);
    // current (b) and previous (b: the rollback kept it) stay; a and the failed c are removed
    expect(existsSync(join(l.root, 'releases', releaseId(b.sha256)))).toBe(true);
    expect(existsSync(join(l.root, 'releases', releaseId(a.sha256)))).toBe(false);
    expect(existsSync(join(l.root, 'releases', releaseId(c.sha256)))).toBe(false);
  });

  it('a tarball that does not match its SHA-256 is refused and nothing is switched', async () => {
    const l = layout('mismatch');
    const a = await artifact('3.0.0');
    await install(l, a);
    const b = await artifact('3.1.0');
    const st = await sh(stageScript(upload(l, b), 'c'.repeat(64), l));
    expect(st.code).toBe(9);
    expect(st.stderr).toMatch(/checksum mismatch/);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('3.0.0\n');
    const sw = await sh(switchScript('c'.repeat(64), l, { daemonReload: false }));
    expect(sw.code).toBe(9);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('3.0.0\n');
  });

  it('rollback to a named release goes exactly there, whatever previous says', async () => {
    const l = layout('named');
    const [a, b, c] = [await artifact('6.0.0'), await artifact('6.1.0'), await artifact('6.2.0')];
    await install(l, a);
    await install(l, b);
    await install(l, c);
    const rb = await sh(rollbackScript(l, { daemonReload: false, to: `releases/${releaseId(a.sha256)}` }));
    expect(rb.code, rb.stderr).toBe(0);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('6.0.0\n');
    expect(() => rollbackScript(l, { to: '../../etc' })).toThrow(/not a release/);
  });

  it('no previous release: rollback refuses (exit 9)', async () => {
    const l = layout('noprev');
    await install(l, await artifact('4.0.0'));
    const rb = await sh(rollbackScript(l, { daemonReload: false }));
    expect(rb.code).toBe(9);
    expect(rb.stderr).toMatch(/no previous release/);
  });

  it('a runtime installed as a plain directory (older bootstrap) is moved into releases/ and linked', async () => {
    const l = layout('legacy');
    mkdirSync(l.link, { recursive: true });
    writeFileSync(join(l.link, 'VERSION'), '0.9.0\n');
    writeFileSync(join(l.link, 'node'), '#!/bin/sh\necho old\n', { mode: 0o755 });
    writeFileSync(join(l.link, '.runtime-sha256'), `${'d'.repeat(64)}\n`);
    const r = await sh(ensureLayoutScript(l));
    expect(r.code, r.stderr).toBe(0);
    expect(readlinkSync(l.link)).toBe(join(l.root, 'current'));
    expect(readlinkSync(join(l.root, 'current'))).toBe(`releases/${'d'.repeat(16)}`);
    expect(readFileSync(join(l.link, 'VERSION'), 'utf8')).toBe('0.9.0\n');
    const b = await artifact('1.0.0');
    expect(await install(l, b)).toBe(`switched ${'d'.repeat(16)} ${releaseId(b.sha256)}`);
    expect(readlinkSync(join(l.root, 'previous'))).toBe(`releases/${'d'.repeat(16)}`);
  });

  it('the switch is atomic: a reader running while it switches back and forth always finds a whole release', async () => {
    const l = layout('atomic');
    const a = await artifact('5.0.0');
    const b = await artifact('5.1.0');
    await install(l, a);
    await install(l, b);
    // a reader that fails the moment the link does not lead to a readable VERSION
    const stop = join(tmp, 'atomic.stop');
    const reader = spawn('bash', ['-c', `n=0; until [ -e ${stop} ]; do v=$(cat ${l.link}/VERSION) || exit 1; case "$v" in 5.0.0|5.1.0) ;; *) exit 2;; esac; n=$((n+1)); done; [ $n -gt 20 ]`]);
    const done = new Promise<number>((res) => reader.on('exit', (c) => res(c ?? 99)));
    for (let i = 0; i < 40; i++) {
      const r = await sh(switchScript((i % 2 ? b : a).sha256, l, { agentUnit: false }));
      expect(r.code, r.stderr).toBe(0);
    }
    writeFileSync(stop, '');
    expect(await done).toBe(0);
  });
});
