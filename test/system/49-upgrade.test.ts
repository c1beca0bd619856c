import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuntime } from '../../tools/runtime-build.js';
import { bulwark, LAB_NODES, onMachine, runCmd } from '../helpers/lab.js';

/** `bulwark upgrade` across the lab: a new build one node at a time, then a broken one that n1 rolls back. */
interface Ev {
  event: string;
  node?: string;
  at: string;
  reason?: string;
  restored?: boolean;
  agentRssKiB?: number | null;
  nodes?: { node: string; result: string; reason?: string }[];
  exit?: number;
}

const NEW_VERSION = '0.1.1-upgradetest';
const BROKEN_VERSION = '0.1.2-broken';
const scratch = mkdtempSync(join(tmpdir(), 'bw-upgrade-'));
const goodTar = join(scratch, `bulwark-runtime-${NEW_VERSION}.tar.gz`);
const brokenTar = join(scratch, `bulwark-runtime-${BROKEN_VERSION}.tar.gz`);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const events = (stdout: string): Ev[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev);

async function nodeFacts(node: string): Promise<{ sha: string; version: string; pid: number; current: string; previous: string; failed: string; exe: string }> {
  const r = await onMachine(
    node,
    'cat /usr/lib/bulwark/.runtime-sha256; /usr/local/sbin/bulwark --version; systemctl show -p MainPID --value bulwark-agent; readlink /opt/bulwark/current; readlink /opt/bulwark/previous || echo; readlink /opt/bulwark/failed || echo; readlink /proc/$(systemctl show -p MainPID --value bulwark-agent)/exe',
  );
  const [sha = '', version = '', pid = '0', current = '', previous = '', failed = '', exe = ''] = r.stdout.split('\n').map((l) => l.trim());
  return { sha, version, pid: Number(pid), current, previous, failed, exe };
}

beforeAll(async () => {
  // the cluster as the files before left it, converged: a bootstrap that is a no-op on a converged lab (and joins
  // the mesh if the first one stopped short of it), so `upgrade` starts from healthy nodes
  const bs = await bulwark(['bootstrap', '--all', '--json'], { timeoutMs: 10 * 60_000 });
  expect(bs.code, bs.stdout).toBe(0);
  // the same code with another version stamp, and a copy of it whose agent exits at start
  process.stderr.write(`[49-upgrade] building runtime ${NEW_VERSION} and a broken one\n`);
  const stage = join(scratch, 'stage');
  await buildRuntime(resolve('.'), { version: NEW_VERSION, tarball: goodTar, stage });
  const broken = join(scratch, 'broken');
  cpSync(stage, broken, { recursive: true });
  const mjs = join(broken, 'bulwark.mjs');
  writeFileSync(
    mjs,
    `if (process.argv[2] === 'agent' && process.argv.length === 3) { console.error('deliberately broken runtime: the agent exits at start'); process.exit(70); }\n${readFileSync(mjs, 'utf8')}`,
  );
  writeFileSync(join(broken, 'VERSION'), `${BROKEN_VERSION}\n`);
  const t = await runCmd(['bash', '-c', `tar -C ${broken} --owner=0 --group=0 --sort=name -cf - . | gzip -1 > ${brokenTar}`]);
  expect(t.code, t.stderr).toBe(0);
}, 600_000);

describe('bulwark upgrade on the lab', () => {
  it('upgrades every node to a new build one at a time: a node starts only after the one before it is healthy', async () => {
    const before = await Promise.all(LAB_NODES.map((n) => nodeFacts(n.name)));
    const r = await bulwark(['upgrade', '--all', '--runtime', goodTar, '--json', '--timeout', '300'], { timeoutMs: 20 * 60_000 });
    const ev = events(r.stdout);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const idx = (event: string, node: string) => ev.findIndex((e) => e.event === event && e.node === node);
    for (const [k, n] of LAB_NODES.entries()) {
      expect(idx('switched', n.name), n.name).toBeGreaterThan(idx('node-start', n.name));
      expect(idx('healthy', n.name), n.name).toBeGreaterThan(idx('switched', n.name));
      const next = LAB_NODES[k + 1];
      if (next) {
        expect(idx('node-start', next.name), `${next.name} started before ${n.name} was healthy`).toBeGreaterThan(idx('healthy', n.name));
        expect(Date.parse(ev[idx('node-start', next.name)]!.at)).toBeGreaterThanOrEqual(Date.parse(ev[idx('healthy', n.name)]!.at));
      }
    }
    expect(ev.at(-1)).toMatchObject({ event: 'done', ok: true, exit: 0 });
    for (const [i, n] of LAB_NODES.entries()) {
      const f = await nodeFacts(n.name);
      expect(f.version, n.name).toBe(NEW_VERSION);
      expect(f.sha).not.toBe(before[i]!.sha);
      // the agent runs from the new release; the old one is kept as `previous`
      expect(f.exe).toBe(`/opt/bulwark/${f.current}/node`);
      expect(f.previous).toBe(before[i]!.current);
      const st = await onMachine(n.name, 'systemctl show -p StatusText --value bulwark-agent; test -x /opt/bulwark/previous/node && echo kept');
      expect(st.stdout).toMatch(/reconciled/);
      expect(st.stdout).not.toMatch(/failing/);
      expect(st.stdout).toMatch(/kept/);
      // the integrity manifest was recorded again by the new runtime: the check does not flag the upgrade
      expect(idx('integrity', n.name), n.name).toBeGreaterThan(idx('switched', n.name));
      expect(ev[idx('integrity', n.name)], n.name).toMatchObject({ recorded: true });
      const ic = await onMachine(n.name, '/usr/local/sbin/bulwark integrity check; echo rc=$?');
      expect(ic.stdout, `${n.name}: ${ic.stdout}${ic.stderr}`).toMatch(/rc=0\s*$/);
    }
  });

  it('the agent RSS after the upgrade stays under 80 MB on every node (VmRSS)', async () => {
    for (const n of LAB_NODES) {
      const r = await onMachine(n.name, "awk '/^VmRSS:/{print $2}' /proc/$(systemctl show -p MainPID --value bulwark-agent)/status");
      const mb = Number(r.stdout.trim()) / 1024;
      process.stdout.write(`[49-upgrade] ${n.name} agent VmRSS ${mb.toFixed(1)} MB (goal < 80 MB)\n`);
      expect(mb, n.name).toBeGreaterThan(10);
      expect(mb, n.name).toBeLessThan(80);
    }
  });

  it('upgrading to the runtime a node already runs is a no-op per node ("already at")', async () => {
    const pids = await Promise.all(LAB_NODES.map(async (n) => (await nodeFacts(n.name)).pid));
    const r = await bulwark(['upgrade', '--all', '--runtime', goodTar, '--json'], { timeoutMs: 5 * 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.event === 'already').map((e) => e.node)).toEqual(['n1', 'n2', 'n3']);
    expect(ev.filter((e) => e.event === 'switched' || e.event === 'upload')).toEqual([]);
    expect(await Promise.all(LAB_NODES.map(async (n) => (await nodeFacts(n.name)).pid))).toEqual(pids);
  });

  it('a runtime whose agent exits at start: n1 is rolled back (exit 3, named with the reason), n2 and n3 are not touched, n1 is healthy on the previous runtime', async () => {
    const before = await Promise.all(LAB_NODES.map((n) => nodeFacts(n.name)));
    const r = await bulwark(['upgrade', '--all', '--runtime', brokenTar, '--json', '--timeout', '180'], { timeoutMs: 15 * 60_000 });
    const ev = events(r.stdout);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(3);
    const rollback = ev.find((e) => e.event === 'rollback');
    expect(rollback?.node).toBe('n1');
    expect(rollback?.reason).toMatch(/agent/);
    expect(ev.find((e) => e.event === 'rolled-back')).toMatchObject({ node: 'n1', restored: true });
    expect(ev.filter((e) => e.event === 'untouched').map((e) => e.node)).toEqual(['n2', 'n3']);
    expect(ev.filter((e) => e.node === 'n2' || e.node === 'n3').map((e) => e.event)).toEqual(['untouched', 'untouched']);
    const done = ev.at(-1)!;
    expect(done).toMatchObject({ event: 'done', ok: false, exit: 3 });
    expect(done.nodes?.[0]).toMatchObject({ node: 'n1', result: 'rolled-back' });
    // n1: back on the release it ran before, the broken one kept as `failed`, agent healthy
    const n1 = await nodeFacts('n1');
    expect(n1.sha).toBe(before[0]!.sha);
    expect(n1.version).toBe(NEW_VERSION);
    expect(n1.current).toBe(before[0]!.current);
    expect(n1.exe).toBe(`/opt/bulwark/${before[0]!.current}/node`);
    expect(n1.failed).not.toBe('');
    const st = await bulwark(['status', 'n1', '--json']);
    expect(st.code, st.stderr).toBe(0);
    const row = (JSON.parse(st.stdout) as { nodes: { ok: boolean; version: string; summary: string }[] }).nodes[0]!;
    expect(row).toMatchObject({ ok: true, version: NEW_VERSION });
    expect(row.summary).not.toMatch(/failing/);
    const mesh = await bulwark(['mesh', 'status', '--json']);
    expect(mesh.code, mesh.stdout).toBe(0);
    // n2 and n3: same runtime, same agent process
    for (const [i, n] of LAB_NODES.entries()) {
      if (i === 0) continue;
      const f = await nodeFacts(n.name);
      expect(f.sha, n.name).toBe(before[i]!.sha);
      expect(f.pid, n.name).toBe(before[i]!.pid);
    }
  });
});
