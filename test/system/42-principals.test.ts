// Runs before 44-first-app and 45-acme (which switches the lab to ACME certificates): it pins each node's self-made certificate.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulwark, LAB_NODES, onMachine, OUTSIDE_NS, runCmd, waitFor } from '../helpers/lab.js';

// Principals from the operator's machine on all three lab nodes: `bulwark principal add/rotate/revoke`
// change every node's store over SSH, each router reloads it, and clients from outside (autobahn-js over
// wss, each node's certificate pinned) see the change on every node; a revoke ends a live session on n2.
const dir = mkdtempSync(join(tmpdir(), 'bw-principals-'));
const NODES = LAB_NODES.map((n) => n.name);
const ca = (n: string) => join(dir, `${n}-cert.pem`);
const url = (n: string) => `wss://${LAB_NODES.find((x) => x.name === n)!.pub}/`;
const CLIENT = resolve('test/system/clients/join.mjs');
let holder: ChildProcess | undefined;

/** Joins node `n` from outside with a ticket; the client's verdict line. */
async function join_(n: string, ticket: string, authid = 'lab-client'): Promise<{ ok: boolean; authid?: string; authprovider?: string; error?: string }> {
  const r = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'node', CLIENT, url(n), ca(n), authid, ticket], { timeoutMs: 30_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"ok"'));
  return JSON.parse(line ?? `{"ok":false,"error":${JSON.stringify(r.stdout + r.stderr)}}`) as { ok: boolean };
}
const joinAll = (ticket: string) => Promise.all(NODES.map((n) => join_(n, ticket)));
async function principal(args: string[]): Promise<Record<string, unknown>> {
  const r = await bulwark(['principal', ...args, '--json'], { timeoutMs: 120_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

beforeAll(async () => {
  for (const n of NODES) {
    await waitFor(`router active on ${n}`, async () => (await onMachine(n, 'systemctl is-active bulwark-router')).stdout.trim() === 'active', 300_000, 1000);
    writeFileSync(ca(n), (await onMachine(n, 'cat /var/lib/bulwark/router/tls/cert.pem')).stdout);
  }
}, 900_000);
afterAll(async () => {
  holder?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('bulwark principal on the lab', () => {
  let first = '';
  it('add: a ticket principal works on every node; the store is root:router 0640', async () => {
    const r = await principal(['add', 'lab-client', '--method', 'ticket', '--role', 'public']);
    first = String(r.ticket);
    expect(Object.keys(r.nodes as object).sort()).toEqual(NODES);
    for (const v of Object.values(r.nodes as Record<string, { applied: boolean; note: string }>)) expect(v).toMatchObject({ applied: true, note: 'router reloaded' });
    const joined = await joinAll(first);
    expect(joined, JSON.stringify(joined)).toEqual(NODES.map(() => ({ ok: true, authid: 'lab-client', authprovider: 'store' })));
    const st = await onMachine('n3', 'stat -c "%a %U" /var/lib/bulwark/principals/principals.json /var/lib/bulwark/principals /var/lib/bulwark/enrolments');
    expect(
      st.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    ).toEqual(['640', '750', '700']);
  });

  it('rotate: old and new tickets both work on every node during the overlap, then only the new one', async () => {
    const r = await principal(['rotate', 'lab-client', '--overlap', '15s']);
    const second = String(r.ticket);
    const until = Date.parse(String(r.oldWorksUntil));
    expect((await joinAll(first)).every((j) => j.ok)).toBe(true);
    expect((await joinAll(second)).every((j) => j.ok)).toBe(true);
    await new Promise((res) => setTimeout(res, Math.max(0, until - Date.now()) + 500));
    const old = await joinAll(first);
    expect(
      old.map((j) => j.ok),
      JSON.stringify(old),
    ).toEqual([false, false, false]);
    expect(old[0]!.error).toMatch(/authentication_failed/);
    expect((await joinAll(second)).every((j) => j.ok)).toBe(true);
    first = second;
  }, 120_000);

  it('revoke: a live session on n2 ends at once, every node refuses the principal, list shows it revoked everywhere', async () => {
    holder = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'node', CLIENT, url('n2'), ca('n2'), 'lab-client', first, 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: holder.stdout! }).on('line', (l) => (l.startsWith('{') ? lines.push(JSON.parse(l) as Record<string, unknown>) : undefined));
    await waitFor('held session joined', async () => lines.some((l) => l.ok === true), 30_000);
    await principal(['revoke', 'lab-client']);
    // the command returns once every node has reloaded; the session ends within 1 s of that (usually before)
    const { ms } = await waitFor('held session ended', async () => lines.some((l) => 'left' in l), 10_000, 20);
    expect(ms).toBeLessThan(1000);
    expect(lines.find((l) => 'left' in l)?.left).toBe('bulwark.close.revoked');
    expect((await joinAll(first)).map((j) => j.ok)).toEqual([false, false, false]);
    const list = await principal(['list']);
    expect(list).toMatchObject({ principals: [{ authid: 'lab-client', state: 'revoked', lagging: [] }], failed: [] });
    const log = await onMachine('n2', 'journalctl -u bulwark-router -o cat --no-pager | grep session.killed | tail -1');
    expect(log.stdout).toContain('"authid":"lab-client"');
  }, 120_000);

  it('expiry: an expired principal is refused with principal_expired, listed as expired and flagged by audit', async () => {
    const r = await principal(['add', 'lab-temp', '--method', 'ticket', '--role', 'public', '--expires', '20s']);
    const list = (await principal(['list'])) as { principals: { authid: string; expiresAt: number; state: string }[] };
    const rec = list.principals.find((p) => p.authid === 'lab-temp')!;
    expect(rec.state).toBe('active');
    expect(await join_('n1', String(r.ticket), 'lab-temp')).toMatchObject({ ok: true, authid: 'lab-temp' });
    await new Promise((res) => setTimeout(res, Math.max(0, rec.expiresAt - Date.now()) + 300));
    const refused = await join_('n3', String(r.ticket), 'lab-temp');
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/bulwark.error.principal_expired/);
    const after = (await principal(['list'])) as { principals: { authid: string; state: string }[] };
    expect(after.principals.find((p) => p.authid === 'lab-temp')?.state).toBe('expired');
    const audit = await bulwark(['audit', 'n2', '--json'], { timeoutMs: 120_000 });
    expect(audit.code).toBe(1);
    const checks = (JSON.parse(audit.stdout) as { nodes: { checks: { id: string; status: string; evidence: string }[] }[] }).nodes[0]!.checks;
    expect(checks.find((c) => c.id === 'principals.expired')).toMatchObject({ status: 'fail', evidence: 'past expiry, not revoked: app/lab-temp' });
    expect(checks.find((c) => c.id === 'principals.store-mode')?.status).toBe('pass');
    expect(checks.find((c) => c.id === 'container.router.mounts')?.status).toBe('pass');
    // revoking clears the audit finding
    await principal(['revoke', 'lab-temp']);
    const clean = await bulwark(['audit', 'n2', '--json'], { timeoutMs: 120_000 });
    const c2 = (JSON.parse(clean.stdout) as { nodes: { checks: { id: string; status: string }[] }[] }).nodes[0]!.checks;
    expect(c2.find((c) => c.id === 'principals.expired')?.status).toBe('pass');
  }, 180_000);
});
