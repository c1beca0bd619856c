import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type autobahn from 'autobahn';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeHash, newActivationCode, planAdd, planApprove, planEnrol, planRevoke, planRotate, type PrincipalRecord } from '../../../src/router/principals/model.js';
import { putOnNode } from '../../../src/principals/node.js';
import { readSubmissions } from '../../../src/router/principals/store.js';
import { deriveCraKey } from '../../../src/router/auth/wampcra.js';
import { hashTicket } from '../../../src/router/auth/ticket.js';
import { abConnect, closeAb, memoryLogger, tempDir, until, type AbSession } from './helpers.js';

// The router as it runs on a node (the built CLI, `bulwark router --config`), its principals store
// changed the way `bulwark principal` changes it on a node (putOnNode: versioned record, atomic write,
// SIGHUP), with real clients: autobahn-js and python3-autobahn. Needs `make build`.
const ROOT = join(import.meta.dirname, '../../..');
const PY = '/usr/bin/python3';
const PY_CLIENT = join(import.meta.dirname, 'py/principal_client.py');
const tmp = tempDir('bwt-rt-principals-');
const paths = { store: join(tmp.dir, 'principals', 'principals.json'), enrolments: join(tmp.dir, 'enrolments') };
const nodeLog = memoryLogger();
let router: ChildProcess;
let port = 0;
const routerLines: Record<string, unknown>[] = [];
const open: { connection: autobahn.Connection }[] = [];
const children: ChildProcess[] = [];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

beforeAll(async () => {
  mkdirSync(join(tmp.dir, 'principals'));
  mkdirSync(paths.enrolments);
  const cfg = {
    realms: [
      {
        name: 'app',
        roles: [
          { name: 'user', permissions: [{ uri: 'wamp.session.', match: 'prefix', call: true }] },
          { name: 'ops', permissions: [{ uri: 'wamp.session.', match: 'prefix', call: true }] },
        ],
      },
    ],
    listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket', 'wampcra', 'cryptosign'] }],
    auth: { anonymous: { role: 'user' } },
    principals: { store: paths.store, enrolments: paths.enrolments, codeAttempts: { perSecond: 0.001, burst: 8 } },
    admin: { role: 'ops' },
  };
  writeFileSync(join(tmp.dir, 'router.yaml'), JSON.stringify(cfg));
  router = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'router', '--config', join(tmp.dir, 'router.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  createInterface({ input: router.stderr! }).on('line', (l) => {
    try {
      routerLines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      routerLines.push({ msg: l });
    }
  });
  await until(() => routerLines.some((l) => l.msg === 'listening'), 15_000, 'router listening');
  port = Number(
    String(routerLines.find((l) => l.msg === 'listening')!.address)
      .split(':')
      .at(-1),
  );
}, 30_000);

afterAll(async () => {
  await Promise.all(open.map(closeAb));
  for (const c of children) c.kill('SIGKILL');
  router?.kill('SIGTERM');
  tmp.cleanup();
});

const url = () => `ws://127.0.0.1:${port}/`;
/** What `bulwark principal` does on a node: keep the record if newer, write, reload the router (SIGHUP) and wait for it. */
async function put(rec: PrincipalRecord): Promise<void> {
  const before = routerLines.filter((l) => l.msg === 'principals reloaded').length;
  const r = await putOnNode(rec, undefined, nodeLog.log, paths, async () => {
    router.kill('SIGHUP');
    await until(() => routerLines.filter((l) => l.msg === 'principals reloaded').length > before, 5000, 'principals reloaded');
    return 'router reloaded';
  });
  expect(r.applied).toBe(true);
}
async function join_(o: Record<string, unknown>) {
  const c = await abConnect({ realm: 'app', url: url(), max_retries: 0, ...o } as autobahn.IConnectionOptions);
  open.push(c);
  return c.session;
}
const whoami = async (s: AbSession) => (await s.call('wamp.session.get', [s.id])) as Record<string, unknown>;
const ticket = (authid: string, t: string) => ({ authmethods: ['ticket'], authid, onchallenge: () => t });
const hashed = (t: string) => hashTicket(t, { N: 1024, r: 8, p: 1 });

/** Runs the python3-autobahn client; resolves with its JSON lines as they come. */
function py(args: string[]): { lines: Record<string, unknown>[]; done: Promise<void> } {
  const c = spawn(PY, [PY_CLIENT, url(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  const lines: Record<string, unknown>[] = [];
  let err = '';
  // its JSON lines; Twisted's own log lines go to stdout too
  createInterface({ input: c.stdout! }).on('line', (l) => (l.startsWith('{') ? lines.push(JSON.parse(l) as Record<string, unknown>) : (err += l + '\n')));
  c.stderr!.on('data', (d) => (err += String(d)));
  return { lines, done: new Promise((res, rej) => c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`python client exit ${code}: ${err}`))))) };
}

describe('store principals with real clients, changed while the router runs', () => {
  let bystander: AbSession;
  beforeAll(async () => {
    bystander = await join_({ authmethods: ['anonymous'] });
  });

  it('ticket rotation: old and new both work during the overlap, then only the new one; a session opened with the old ticket stays', async () => {
    const r1 = planAdd(undefined, { realm: 'app', authid: 'alice', role: 'user', method: 'ticket', value: hashed('alice-old') }, Date.now());
    await put(r1);
    const early = await join_(ticket('alice', 'alice-old'));
    expect(await whoami(early)).toMatchObject({ authid: 'alice', authprovider: 'store' });
    const r2 = planRotate(r1, hashed('alice-new'), 1500, Date.now());
    await put(r2);
    const oldEnd = r2.credentials[0]!.notAfter!;
    expect((await whoami(await join_(ticket('alice', 'alice-old')))).authid).toBe('alice');
    expect((await whoami(await join_(ticket('alice', 'alice-new')))).authid).toBe('alice');
    await new Promise((r) => setTimeout(r, Math.max(0, oldEnd - Date.now()) + 100));
    await expect(join_(ticket('alice', 'alice-old'))).rejects.toThrow(/authentication_failed/);
    expect((await whoami(await join_(ticket('alice', 'alice-new')))).authid).toBe('alice');
    expect((await whoami(early)).authid).toBe('alice');
    expect((await whoami(bystander)).authmethod).toBe('anonymous');
  });

  it('WAMP-CRA rotation with python3-autobahn: old and new secrets during the overlap', async () => {
    const cra = { salt: 'salt-of-bob-1234', iterations: 1000, keylen: 32 };
    const r1 = planAdd(undefined, { realm: 'app', authid: 'bob', role: 'user', method: 'wampcra', value: deriveCraKey('bob-old', cra.salt, 1000, 32), cra }, Date.now());
    await put(r1);
    await put(planRotate(r1, deriveCraKey('bob-new', cra.salt, 1000, 32), 60_000, Date.now()));
    for (const secret of ['bob-old', 'bob-new']) {
      const c = py(['wampcra', 'bob', secret, 'once']);
      await c.done;
      expect(c.lines.map((l) => Object.keys(l)[0])).toEqual(['joined', 'left']);
    }
    const failedBefore = routerLines.filter((l) => l.event === 'auth.failed' && l.authid === 'bob').length;
    const bad = py(['wampcra', 'bob', 'bob-wrong', 'once']);
    await bad.done;
    expect(bad.lines.some((l) => 'joined' in l)).toBe(false);
    expect(routerLines.filter((l) => l.event === 'auth.failed' && l.authid === 'bob').length).toBe(failedBefore + 1);
  }, 30_000);

  it('revoke ends a python3-autobahn session within 1 s and refuses new ones; other sessions carry on', async () => {
    const rec = planAdd(undefined, { realm: 'app', authid: 'victim', role: 'user', method: 'ticket', value: hashed('victim-t') }, Date.now());
    await put(rec);
    const c = py(['ticket', 'victim', 'victim-t']);
    await until(() => c.lines.some((l) => 'joined' in l), 15_000, 'python joined');
    const t0 = Date.now();
    await put(planRevoke(rec, Date.now()));
    await until(() => c.lines.some((l) => 'left' in l || 'closed' in l), 1000, 'python session ended within 1 s');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(c.lines.find((l) => 'left' in l)?.left).toBe('bulwark.close.revoked');
    await expect(join_(ticket('victim', 'victim-t'))).rejects.toThrow(/authentication_failed/);
    expect((await whoami(bystander)).authmethod).toBe('anonymous');
    expect(routerLines.some((l) => l.event === 'session.killed' && l.authid === 'victim')).toBe(true);
    expect(nodeLog.lines.some((l) => l.event === 'principal.revoked' && l.authid === 'victim')).toBe(true);
  }, 30_000);

  describe('enrolment (autobahn-js cryptosign with authextra {pubkey, activation_code})', () => {
    const keys = nacl.sign.keyPair();
    const cs = (authid: string, extra: Record<string, unknown> = {}, kp = keys) => ({
      authmethods: ['cryptosign'],
      authid,
      authextra: { pubkey: hex(kp.publicKey), ...extra },
      onchallenge: (_s: unknown, _m: string, e: { challenge: string }) => hex(nacl.sign.detached(Buffer.from(e.challenge, 'hex'), kp.secretKey)),
    });
    const enrol = (authid: string, code: string, ttlMs = 60_000) =>
      planEnrol(undefined, { realm: 'app', authid, role: 'user', codeHash: codeHash(code), enrolmentId: hex(nacl.randomBytes(12)), codeTtlMs: ttlMs }, Date.now());

    it('happy path: code + key → pending; approve → in; each refusal has its reason', async () => {
      const code = newActivationCode();
      const rec = enrol('dev1', code);
      await put(rec);
      await expect(join_(cs('dev1', { activation_code: newActivationCode() }))).rejects.toThrow(/bulwark.error.activation_code_invalid/);
      await expect(join_(cs('dev1', { activation_code: code }))).rejects.toThrow(/bulwark.error.enrolment_pending/);
      await expect(join_(cs('dev1', { activation_code: code }))).rejects.toThrow(/bulwark.error.activation_code_used/);
      await expect(join_(cs('dev1', { activation_code: code }, nacl.sign.keyPair()))).rejects.toThrow(/bulwark.error.activation_code_used/);
      await expect(join_(cs('dev1'))).rejects.toThrow(/bulwark.error.principal_pending/);
      const subs = readSubmissions(paths.enrolments);
      expect(subs.map((s) => s.pubkey)).toEqual([hex(keys.publicKey)]);
      await put(planApprove(rec, subs, Date.now()));
      expect(await whoami(await join_(cs('dev1')))).toMatchObject({ authid: 'dev1', authrole: 'user', authmethod: 'cryptosign', authprovider: 'store' });
      expect(readSubmissions(paths.enrolments)).toEqual([]); // pruned once approved
      expect(routerLines.filter((l) => l.event === 'enrolment.code_refused').map((l) => l.why)).toEqual(['wrong code', 'used', 'used']);
      expect(routerLines.some((l) => l.event === 'enrolment.submitted' && l.authid === 'dev1')).toBe(true);
    });

    it('expired code, rejected enrolment, and the per-source attempt limit', async () => {
      const code2 = newActivationCode();
      await put(enrol('dev2', code2, 200));
      await new Promise((r) => setTimeout(r, 250));
      await expect(join_(cs('dev2', { activation_code: code2 }))).rejects.toThrow(/bulwark.error.activation_code_expired/);
      const code3 = newActivationCode();
      const rec3 = enrol('dev3', code3);
      await put(rec3);
      await expect(join_(cs('dev3', { activation_code: code3 }))).rejects.toThrow(/enrolment_pending/);
      await put(planRevoke(rec3, Date.now(), 'rejected'));
      await expect(join_(cs('dev3'))).rejects.toThrow(/authentication_failed/);
      // 8 attempts per source in all (codeAttempts.burst), 6 used above: the next ones are refused as rate limited
      let limited = false;
      for (let i = 0; i < 4 && !limited; i++) {
        limited = await join_(cs('dev9', { activation_code: 'X' })).then(
          () => false,
          (e: Error) => /activation_rate_limited/.test(e.message),
        );
      }
      expect(limited).toBe(true);
      expect(routerLines.some((l) => l.event === 'enrolment.rate_limited')).toBe(true);
    });
  });

  it('admin meta procedures: only the admin role ends sessions by authid; a role allowed wamp.session.* is refused', async () => {
    await put(planAdd(undefined, { realm: 'app', authid: 'root', role: 'ops', method: 'ticket', value: hashed('root-t') }, Date.now()));
    await put(planAdd(undefined, { realm: 'app', authid: 'target', role: 'user', method: 'ticket', value: hashed('target-t') }, Date.now()));
    const conn = await abConnect({ realm: 'app', url: url(), max_retries: 0, ...ticket('target', 'target-t') } as autobahn.IConnectionOptions);
    open.push(conn);
    const closed = new Promise<string>((res) => {
      conn.connection.onclose = (_r, d) => (res(String((d as { reason?: string }).reason)), true);
    });
    const targetId = (await whoami(conn.session)).session;
    await expect(bystander.call('wamp.session.kill_by_authid', ['target'])).rejects.toMatchObject({ error: 'wamp.error.not_authorized' });
    const admin = await join_(ticket('root', 'root-t'));
    expect(await admin.call('wamp.session.list_by_authid', ['target'])).toEqual([targetId]);
    expect(await admin.call('wamp.session.kill_by_authid', ['target'])).toEqual([targetId]);
    expect(await closed).toBe('wamp.close.killed');
    expect(await admin.call('wamp.session.list_by_authid', ['target'])).toEqual([]);
  });

  it('the bystander session survived every change', async () => {
    expect((await whoami(bystander)).authmethod).toBe('anonymous');
    expect(routerLines.filter((l) => l.msg === 'principals reloaded').length).toBeGreaterThanOrEqual(10);
  });
});
