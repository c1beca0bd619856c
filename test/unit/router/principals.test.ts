import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import nacl from 'tweetnacl';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { routerSchema, type WampListenerConfig } from '../../../src/router/config.js';
import type { Connection, Outgoing } from '../../../src/router/core/connection.js';
import { Router } from '../../../src/router/core/router.js';
import type { ListenerRuntime, Session } from '../../../src/router/core/session.js';
import { json } from '../../../src/router/wamp/serializers.js';
import { hashTicket } from '../../../src/router/auth/ticket.js';
import { applyRecord, codeHash, emptyStore, planAdd, planApprove, planEnrol, planRevoke, planRotate, type PrincipalRecord } from '../../../src/router/principals/model.js';
import { readSubmissions, writeStore } from '../../../src/router/principals/store.js';

// Message-level tests of store principals: a Router with in-memory connections, the store in a temp dir.

const ROLES = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } };
const WELCOME = 2,
  ABORT = 3,
  CHALLENGE = 4,
  AUTHENTICATE = 5,
  GOODBYE = 6,
  ERROR = 8,
  CALL = 48,
  RESULT = 50;
const dir = mkdtempSync(join(tmpdir(), 'bwt-router-principals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

class Peer implements Connection {
  readonly serializer = json;
  readonly info = { type: 'websocket' as const, protocol: 'wamp.2.json', peer: 'tcp4:192.0.2.7:5555', source: '192.0.2.7', listener: 'l', tls: false };
  readonly got: unknown[][] = [];
  session: Session;
  constructor(router: Router, listener: ListenerRuntime) {
    this.session = router.attach(this, listener);
  }
  send(out: Outgoing): void {
    this.got.push(json.decode(out.encode(json)) as unknown[]);
  }
  close(): void {}
  rebind(next: Session): void {
    this.session = next;
  }
  in(wire: unknown[]): void {
    this.session.receive(json.decodeMessage(json.encode(wire)));
  }
  take(): unknown[][] {
    return this.got.splice(0);
  }
}

const routers: Router[] = [];
afterEach(() => {
  for (const r of routers.splice(0)) r.shutdown();
});

const T = () => Date.now();
const ticketHash = (t: string) => hashTicket(t, { N: 1024, r: 8, p: 1 });

function setup(records: PrincipalRecord[], principals: Record<string, unknown> = {}) {
  const base = join(dir, `r${n++}`);
  const store = `${base}.json`;
  const enrolments = `${base}-enrol`;
  mkdirSync(enrolments);
  const write = (recs: PrincipalRecord[]) =>
    writeStore(
      recs.reduce((s, r) => applyRecord(s, r).store, emptyStore()),
      store,
    );
  write(records);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }));
  const cfg = routerSchema.parse({
    realms: [
      {
        name: 'app',
        roles: [
          { name: 'user', permissions: [{ uri: 'wamp.session.', match: 'prefix', call: true }] },
          { name: 'ops', permissions: [{ uri: 'wamp.session.', match: 'prefix', call: true }] },
        ],
      },
    ],
    listeners: [{ type: 'websocket', port: 0, auth: ['anonymous', 'ticket', 'cryptosign'] }],
    auth: { anonymous: { role: 'user' } },
    principals: { store, enrolments, codeAttempts: { perSecond: 0.001, burst: 4 }, ...principals },
    admin: { role: 'ops' },
  });
  const router = new Router(cfg, log);
  routers.push(router);
  const listener: ListenerRuntime = { name: 'l', cfg: cfg.listeners[0] as WampListenerConfig };
  const peer = () => new Peer(router, listener);
  return { router, peer, write, lines, enrolments };
}

function ticketLogin(p: Peer, authid: string, ticket: string): unknown[] {
  p.in([1, 'app', { ...ROLES, authmethods: ['ticket'], authid }]);
  const [c] = p.take();
  expect(c?.[0]).toBe(CHALLENGE);
  p.in([AUTHENTICATE, ticket, {}]);
  return p.take()[0]!;
}
function anonymous(p: Peer): number {
  p.in([1, 'app', { ...ROLES, authmethods: ['anonymous'] }]);
  const [w] = p.take();
  expect(w?.[0]).toBe(WELCOME);
  return w![1] as number;
}
const ticketRec = (authid: string, ticket: string, role = 'user', extra: Partial<PrincipalRecord> = {}) => ({
  ...planAdd(undefined, { realm: 'app', authid, role, method: 'ticket', value: ticketHash(ticket) }, T() - 1000),
  ...extra,
});

describe('store principals at the message level', () => {
  it('a store ticket authenticates (authprovider store); a wrong ticket fails and logs auth.failed', () => {
    const { peer, lines } = setup([ticketRec('alice', 'alice-ticket-1')]);
    const w = ticketLogin(peer(), 'alice', 'alice-ticket-1');
    expect(w[0]).toBe(WELCOME);
    expect(w[2]).toMatchObject({ authid: 'alice', authrole: 'user', authmethod: 'ticket', authprovider: 'store' });
    expect(ticketLogin(peer(), 'alice', 'wrong')).toEqual([ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed']);
    expect(lines.filter((l) => l.event === 'auth.failed')).toHaveLength(1);
  });

  it('rotation: both tickets during the overlap, then only the new one', async () => {
    const r1 = ticketRec('bob', 'bob-old');
    const { router, peer, write } = setup([r1]);
    write([r1, planRotate(r1, ticketHash('bob-new'), 300, T())]);
    router.reloadPrincipals();
    expect(ticketLogin(peer(), 'bob', 'bob-old')[0]).toBe(WELCOME);
    expect(ticketLogin(peer(), 'bob', 'bob-new')[0]).toBe(WELCOME);
    await new Promise((r) => setTimeout(r, 350));
    expect(ticketLogin(peer(), 'bob', 'bob-old')[0]).toBe(ABORT);
    expect(ticketLogin(peer(), 'bob', 'bob-new')[0]).toBe(WELCOME);
  });

  it('an expired principal proving its ticket is refused with principal_expired', () => {
    const { peer, lines } = setup([ticketRec('carl', 'carl-t', 'user', { expiresAt: T() - 1 })]);
    const a = ticketLogin(peer(), 'carl', 'carl-t');
    expect(a[0]).toBe(ABORT);
    expect(a[2]).toBe('bulwark.error.principal_expired');
    expect(lines.some((l) => l.event === 'principal.refused' && l.why === 'expired')).toBe(true);
  });

  it('revoke + reload ends the live session at once (GOODBYE bulwark.close.revoked); other sessions stay; new HELLOs fail', () => {
    const r = ticketRec('dave', 'dave-t');
    const { router, peer, write, lines } = setup([r]);
    const victim = peer();
    expect(ticketLogin(victim, 'dave', 'dave-t')[0]).toBe(WELCOME);
    const bystander = peer();
    anonymous(bystander);
    write([planRevoke(r, T())]);
    expect(router.reloadPrincipals().ended).toBe(1);
    expect(victim.take()).toEqual([[GOODBYE, { message: 'principal dave revoked' }, 'bulwark.close.revoked']]);
    expect(bystander.take()).toEqual([]);
    expect(bystander.session.state).toBe('open');
    expect(ticketLogin(peer(), 'dave', 'dave-t')[0]).toBe(ABORT);
    expect(lines.some((l) => l.event === 'session.killed' && l.authid === 'dave')).toBe(true);
  });

  it('a revoke that lands between HELLO and AUTHENTICATE is honoured', () => {
    const r = ticketRec('gina', 'gina-t');
    const { router, peer, write } = setup([r]);
    const p = peer();
    p.in([1, 'app', { ...ROLES, authmethods: ['ticket'], authid: 'gina' }]);
    expect(p.take()[0]?.[0]).toBe(CHALLENGE);
    write([planRevoke(r, T())]);
    router.reloadPrincipals();
    p.in([AUTHENTICATE, 'gina-t', {}]);
    expect(p.take()[0]).toEqual([ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed']);
  });

  it('a bad store on reload keeps the previous principals', () => {
    const { router, peer } = setup([ticketRec('erin', 'erin-t')]);
    writeFileSync(router.book!.file, '{"format":1,"principals":[{"realm":"app"}]}');
    expect(() => router.reloadPrincipals()).toThrow(/principals\.0/);
    expect(ticketLogin(peer(), 'erin', 'erin-t')[0]).toBe(WELCOME);
  });
});

describe('admin meta procedures', () => {
  it('only the admin role may kill or list by authid, though public roles may call wamp.session.*', () => {
    const { peer } = setup([ticketRec('frank', 'frank-t'), ticketRec('root', 'root-t', 'ops')]);
    const f1 = peer();
    const f2 = peer();
    const s1 = (ticketLogin(f1, 'frank', 'frank-t') as [number, number])[1];
    const s2 = (ticketLogin(f2, 'frank', 'frank-t') as [number, number])[1];
    const pub = peer();
    anonymous(pub);
    pub.in([CALL, 1, {}, 'wamp.session.kill_by_authid', ['frank']]);
    expect(pub.take()[0]).toEqual([ERROR, CALL, 1, {}, 'wamp.error.not_authorized', ["wamp.session.kill_by_authid is for the router's admin role only"]]);
    pub.in([CALL, 2, {}, 'wamp.session.kill', [s1]]);
    expect(pub.take()[0]?.[4]).toBe('wamp.error.not_authorized');
    expect(f1.take()).toEqual([]);
    const ops = peer();
    expect(ticketLogin(ops, 'root', 'root-t')[0]).toBe(WELCOME);
    ops.in([CALL, 3, {}, 'wamp.session.list_by_authid', ['frank']]);
    expect(ops.take()[0]).toEqual([RESULT, 3, {}, [[s1, s2]]]);
    ops.in([CALL, 4, {}, 'wamp.session.kill', [s1], { reason: 'com.example.bye', message: 'go' }]);
    expect(ops.take()[0]).toEqual([RESULT, 4, {}, []]);
    expect(f1.take()).toEqual([[GOODBYE, { message: 'go' }, 'com.example.bye']]);
    ops.in([CALL, 5, {}, 'wamp.session.kill_by_authid', ['frank']]);
    expect(ops.take()[0]).toEqual([RESULT, 5, {}, [[s2]]]);
    expect(f2.take()).toEqual([[GOODBYE, {}, 'wamp.close.killed']]);
    expect(pub.session.state).toBe('open');
  });
});

describe('enrolment at the message level', () => {
  const CODE = 'ABCDE-FGHJK-LMNPQ-RSTUV';
  const enrol = (ttlMs = 60_000) => planEnrol(undefined, { realm: 'app', authid: 'dev1', role: 'user', codeHash: codeHash(CODE), enrolmentId: '00112233445566778899aabb', codeTtlMs: ttlMs }, T());
  const keys = nacl.sign.keyPair();
  const pub = Buffer.from(keys.publicKey).toString('hex');
  function hello(p: Peer, extra: Record<string, unknown>, authid = 'dev1'): unknown[] {
    p.in([1, 'app', { ...ROLES, authmethods: ['cryptosign'], authid, authextra: { pubkey: pub, ...extra } }]);
    const [m] = p.take();
    if (m?.[0] !== CHALLENGE) return m!;
    const challenge = Buffer.from((m[2] as { challenge: string }).challenge, 'hex');
    p.in([AUTHENTICATE, Buffer.from(nacl.sign.detached(challenge, keys.secretKey)).toString('hex'), {}]);
    return p.take()[0]!;
  }

  it('code accepted once: the key is recorded, the session refused as pending; then used, pending; approve lets it in', () => {
    const rec = enrol();
    const { router, peer, write, lines, enrolments } = setup([rec]);
    expect(hello(peer(), { activation_code: CODE.toLowerCase() })).toEqual([
      ABORT,
      { message: 'activation code accepted; dev1 awaits approval (bulwark principal approve)' },
      'bulwark.error.enrolment_pending',
    ]);
    expect(readSubmissions(enrolments)).toMatchObject([{ authid: 'dev1', pubkey: pub, source: '192.0.2.7' }]);
    expect(hello(peer(), { activation_code: CODE })[2]).toBe('bulwark.error.activation_code_used');
    expect(hello(peer(), {})[2]).toBe('bulwark.error.principal_pending');
    expect(lines.some((l) => l.event === 'enrolment.submitted')).toBe(true);
    expect(lines.some((l) => l.event === 'enrolment.code_refused' && l.why === 'used')).toBe(true);
    write([planApprove(rec, readSubmissions(enrolments), T())]);
    router.reloadPrincipals();
    expect(hello(peer(), {})).toMatchObject([WELCOME, expect.any(Number), { authid: 'dev1', authprovider: 'store', authmethod: 'cryptosign' }]);
  });

  it('wrong code, wrong authid, expired code, and the per-source attempt limit each have their reason', async () => {
    const { peer, lines } = setup([enrol(100)]);
    expect(hello(peer(), { activation_code: 'ABCDE-FGHJK-LMNPQ-RSTUW' })[2]).toBe('bulwark.error.activation_code_invalid');
    expect(hello(peer(), { activation_code: CODE }, 'someone-else')[2]).toBe('bulwark.error.activation_code_invalid');
    await new Promise((r) => setTimeout(r, 150));
    expect(hello(peer(), { activation_code: CODE })[2]).toBe('bulwark.error.activation_code_expired');
    expect(hello(peer(), { activation_code: CODE })[2]).toBe('bulwark.error.activation_code_expired');
    expect(hello(peer(), { activation_code: CODE })[2]).toBe('bulwark.error.activation_rate_limited');
    expect(lines.filter((l) => l.event === 'enrolment.code_refused').map((l) => l.why)).toEqual(['wrong code', 'wrong code', 'expired', 'expired']);
    expect(lines.some((l) => l.event === 'enrolment.rate_limited')).toBe(true);
  });

  it('with principals.autoApprove a valid code lets the client in at once (and its key afterwards)', () => {
    const { peer } = setup([enrol()], { autoApprove: true });
    expect(hello(peer(), { activation_code: CODE })).toMatchObject([WELCOME, expect.any(Number), { authid: 'dev1', authprovider: 'store' }]);
    expect(hello(peer(), {})[0]).toBe(WELCOME);
    expect(hello(peer(), { activation_code: CODE })[2]).toBe('bulwark.error.activation_code_used');
  });
});
