import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyRecord,
  codeHash,
  codeMatches,
  emptyStore,
  liveCredentials,
  newActivationCode,
  newestRecords,
  nextVersion,
  parseDuration,
  parseExpiry,
  planAdd,
  planApprove,
  planEnrol,
  planRevoke,
  planRotate,
  principalState,
  PrincipalError,
  type PrincipalRecord,
  type Submission,
} from '../../../src/router/principals/model.js';
import { pruneSubmissions, readStore, readSubmissions, StoreError, writeStore, writeSubmission } from '../../../src/router/principals/store.js';
import { parsePrincipalArgs } from '../../../src/principals/command.js';

const T0 = 1_800_000_000_000;
const H = 3_600_000;
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const add = (now = T0, extra: Partial<Parameters<typeof planAdd>[1]> = {}) =>
  planAdd(undefined, { realm: 'app', authid: 'alice', role: 'user', method: 'ticket', value: 'scrypt$hash-one-xxxxxxxx', ...extra }, now);

describe('rotation overlap', () => {
  it('old and new both work during the overlap, only the new one after it', () => {
    const r1 = add();
    const r2 = planRotate(r1, 'scrypt$hash-two-xxxxxxxx', 24 * H, T0 + H);
    expect(liveCredentials(r2, T0 + H).map((c) => c.value)).toEqual(['scrypt$hash-one-xxxxxxxx', 'scrypt$hash-two-xxxxxxxx']);
    expect(liveCredentials(r2, T0 + 25 * H - 1).length).toBe(2);
    expect(liveCredentials(r2, T0 + 25 * H).map((c) => c.value)).toEqual(['scrypt$hash-two-xxxxxxxx']);
  });
  it('a second rotation never extends an earlier end, and drops credentials already past their end', () => {
    const r2 = planRotate(add(), 'v2-xxxxxxxxxxxxxxxxx', 10 * H, T0);
    const r3 = planRotate(r2, 'v3-xxxxxxxxxxxxxxxxx', 24 * H, T0 + H);
    expect(r3.credentials.find((c) => c.value === 'scrypt$hash-one-xxxxxxxx')?.notAfter).toBe(T0 + 10 * H);
    expect(r3.credentials.find((c) => c.value === 'v2-xxxxxxxxxxxxxxxxx')?.notAfter).toBe(T0 + 25 * H);
    const r4 = planRotate(r3, 'v4-xxxxxxxxxxxxxxxxx', 0, T0 + 11 * H);
    expect(r4.credentials.map((c) => c.value)).toEqual(['v4-xxxxxxxxxxxxxxxxx']);
  });
  it('property: at any instant, the newest credential works and nothing works past the overlap except it', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 48 * H }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 100 * H }), (overlaps, probe) => {
        let r = add();
        let t = T0;
        overlaps.forEach((o, i) => {
          t += 1000;
          r = planRotate(r, `value-${i}-xxxxxxxxxxxxxx`, o, t);
        });
        const at = t + probe;
        const live = liveCredentials(r, at).map((c) => c.value);
        expect(live).toContain(`value-${overlaps.length - 1}-xxxxxxxxxxxxxx`);
        if (probe >= overlaps.at(-1)!) expect(live).toEqual([`value-${overlaps.length - 1}-xxxxxxxxxxxxxx`]);
      }),
    );
  });
  it('refuses to rotate a revoked principal or to the same key', () => {
    expect(() => planRotate(planRevoke(add(), T0 + 1), 'x'.repeat(20), H, T0 + 2)).toThrow(PrincipalError);
    expect(() => planRotate(add(), 'scrypt$hash-one-xxxxxxxx', H, T0 + 2)).toThrow(/in use/);
  });
});

describe('versioning: a late or repeated change never undoes a newer one', () => {
  it('keeps only newer versions', () => {
    const r1 = add();
    const r2 = planRevoke(r1, T0 + 5);
    let s = applyRecord(emptyStore(), r1).store;
    s = applyRecord(s, r2).store;
    const replay = applyRecord(s, r1);
    expect(replay.applied).toBe(false);
    expect(replay.had).toBe(r2.version);
    expect(principalState(replay.store.principals[0]!, T0 + 10)).toBe('revoked');
  });
  it('versions grow even when the clock goes back', () => {
    const r1 = add(T0);
    expect(nextVersion(r1, T0 - 60_000)).toBe(r1.version + 1);
    const again = planAdd(planRevoke(r1, T0 - 1000), { realm: 'app', authid: 'alice', role: 'user', method: 'ticket', value: 'y'.repeat(20) }, T0 - 2000);
    expect(again.version).toBeGreaterThan(r1.version + 1);
  });
  it('property: applying records in any order ends with the newest of each principal', () => {
    const recs: PrincipalRecord[] = [];
    let r = add();
    recs.push(r);
    for (let i = 0; i < 5; i++) recs.push((r = planRotate(r, `v${i}-xxxxxxxxxxxxxxxxxxx`, H, T0 + i + 1)));
    recs.push(planRevoke(r, T0 + 100));
    fc.assert(
      fc.property(fc.shuffledSubarray(recs, { minLength: recs.length, maxLength: recs.length }), (order) => {
        const s = order.reduce((st, x) => applyRecord(st, x).store, emptyStore());
        expect(s.principals).toEqual([recs.at(-1)]);
      }),
    );
  });
  it('newestRecords merges several nodes', () => {
    const r1 = add();
    const r2 = planRotate(r1, 'v2-xxxxxxxxxxxxxxxxx', H, T0 + 1);
    const m = newestRecords([{ format: 1, principals: [r2] }, { format: 1, principals: [r1] }, emptyStore()]);
    expect(m.size).toBe(1);
    expect([...m.values()][0]).toBe(r2);
  });
});

describe('expiry and enrolment', () => {
  it('an expired principal is listed as expired', () => {
    const r = add(T0, { expiresAt: T0 + H });
    expect(principalState(r, T0 + H - 1)).toBe('active');
    expect(principalState(r, T0 + H)).toBe('expired');
  });
  const enrol = (prev?: PrincipalRecord) =>
    planEnrol(prev, { realm: 'app', authid: 'dev1', role: 'user', codeHash: codeHash('ABCDE-FGHJK'), enrolmentId: '0123456789abcdef', codeTtlMs: 15 * 60_000 }, T0);
  it('activation code: expires after its ttl; compared as typed, case and dashes ignored', () => {
    const r = enrol();
    expect(principalState(r, T0 + 15 * 60_000 - 1)).toBe('enrolling');
    expect(principalState(r, T0 + 15 * 60_000)).toBe('code-expired');
    expect(principalState(r, T0, true)).toBe('pending');
    expect(codeMatches('abcde fghjk', r.enrolment!.codeHash)).toBe(true);
    expect(codeMatches('ABCDE-FGHJL', r.enrolment!.codeHash)).toBe(false);
    expect(newActivationCode()).toMatch(/^[A-Z2-9]{5}(-[A-Z2-9]{5}){3}$/);
    expect(newActivationCode()).not.toBe(newActivationCode());
  });
  it('approve takes the one submitted key; several different keys need --pubkey', () => {
    const r = enrol();
    const sub = (pubkey: string, enrolmentId = '0123456789abcdef'): Submission => ({ realm: 'app', authid: 'dev1', enrolmentId, pubkey, at: T0 + 1, source: '192.0.2.1' });
    expect(() => planApprove(r, [], T0 + 2)).toThrow(/not presented|yet/);
    expect(() => planApprove(r, [sub(KEY_A, 'ffffffffffffffff')], T0 + 2)).toThrow(/yet/);
    const ok = planApprove(r, [sub(KEY_A), sub(KEY_A)], T0 + 2);
    expect(ok.enrolment).toBeUndefined();
    expect(ok.credentials.map((c) => c.value)).toEqual([KEY_A]);
    expect(principalState(ok, T0 + 3)).toBe('active');
    expect(() => planApprove(r, [sub(KEY_A), sub(KEY_B)], T0 + 2)).toThrow(/different keys/);
    expect(planApprove(r, [sub(KEY_A), sub(KEY_B)], T0 + 2, KEY_B).credentials[0]!.value).toBe(KEY_B);
  });
  it('reject ends the enrolment; enroll over a live principal is refused', () => {
    expect(principalState(planRevoke(enrol(), T0 + 1, 'rejected'), T0 + 2)).toBe('rejected');
    expect(() => enrol(add())).toThrow(/already exists/);
  });
  it('durations and expiries', () => {
    expect(parseDuration('24h')).toBe(24 * H);
    expect(parseDuration('90')).toBe(90_000);
    expect(() => parseDuration('soon')).toThrow(PrincipalError);
    expect(parseExpiry('7d', T0)).toBe(T0 + 7 * 24 * H);
    expect(() => parseExpiry('2000-01-01', T0)).toThrow(/past/);
  });
});

describe('store files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bwt-principals-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('atomic write, 0640, read back equal; a bad file names file and field', () => {
    const file = join(dir, 'principals.json');
    const s = applyRecord(emptyStore(), add()).store;
    writeStore(s, file);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readStore(file)).toEqual(s);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    writeFileSync(file, JSON.stringify({ format: 1, principals: [{ ...add(), role: 'Bad Role' }] }));
    expect(() => readStore(file)).toThrow(StoreError);
    expect(() => readStore(file)).toThrow(/principals\.json: principals\.0\.role/);
  });
  it('a submission is taken once per enrolment; closed enrolments are pruned', () => {
    const sub: Submission = { realm: 'app', authid: 'dev1', enrolmentId: '0123456789abcdef', pubkey: KEY_A, at: T0, source: '192.0.2.1' };
    expect(writeSubmission(dir, sub)).toBe(true);
    expect(writeSubmission(dir, { ...sub, pubkey: KEY_B })).toBe(false);
    expect(readSubmissions(dir)).toEqual([sub]);
    expect(pruneSubmissions(emptyStore(), dir)).toBe(1);
    expect(readSubmissions(dir)).toEqual([]);
  });
});

describe('command line', () => {
  it('parses and refuses', () => {
    expect(parsePrincipalArgs(['add', 'alice', '--method', 'ticket', '--role', 'user', '--expires', '30d'])).toMatchObject({
      sub: 'add',
      name: 'alice',
      method: 'ticket',
      role: 'user',
      expires: '30d',
    });
    expect(parsePrincipalArgs(['rotate', 'alice', '--overlap', '10s']).overlapMs).toBe(10_000);
    expect(() => parsePrincipalArgs(['add', 'alice', '--method', 'cryptosign', '--role', 'user'])).toThrow(/--pubkey/);
    expect(() => parsePrincipalArgs(['add', 'alice', '--method', 'plain', '--role', 'user'])).toThrow(/--method/);
    expect(() => parsePrincipalArgs(['revoke', 'alice', '--overlap', '1h'])).toThrow(/not for principal revoke/);
    expect(() => parsePrincipalArgs(['enroll', 'dev1'])).toThrow(/--role/);
    expect(() => parsePrincipalArgs(['list', 'x'])).toThrow(/no name/);
    expect(() => parsePrincipalArgs(['frobnicate'])).toThrow(/expected add/);
    expect(() => parsePrincipalArgs(['revoke', 'bad name'])).toThrow(/valid authid/);
  });
});

describe('audit', () => {
  it('flags principals past expiry and credentials older than the rotation age', async () => {
    const { evaluatePrincipals, evaluateStoreFiles } = await import('../../../src/principals/audit.js');
    const D = 86_400_000;
    const old = add(T0 - 100 * D);
    const fresh = planAdd(undefined, { realm: 'app', authid: 'fresh', role: 'user', method: 'ticket', value: 'scrypt$fresh-xxxxxxxxxx' }, T0 - D);
    const gone = planAdd(undefined, { realm: 'app', authid: 'gone', role: 'user', method: 'ticket', value: 'scrypt$gone-xxxxxxxxxxx', expiresAt: T0 - 1 }, T0 - 2 * D);
    const revoked = planRevoke(planAdd(undefined, { realm: 'app', authid: 'rev', role: 'user', method: 'ticket', value: 'scrypt$rev-xxxxxxxxxxxx', expiresAt: T0 - 1 }, T0 - 200 * D), T0 - 150 * D);
    const store = [old, fresh, gone, revoked].reduce((s, r) => applyRecord(s, r).store, emptyStore());
    const [expired, age] = evaluatePrincipals(store, T0, 90);
    expect(expired).toMatchObject({ id: 'principals.expired', status: 'fail', evidence: 'past expiry, not revoked: app/gone' });
    expect(age).toMatchObject({ id: 'principals.rotation-age', status: 'fail', evidence: 'not rotated in 90 days: app/alice (100 d)' });
    const rotated = planRotate(old, 'scrypt$rotated-xxxxxxxxxx', H, T0);
    expect(evaluatePrincipals(applyRecord(emptyStore(), rotated).store, T0, 90).map((c) => c.status)).toEqual(['pass', 'pass']);
    expect(evaluatePrincipals(store, T0, 0)[1]!.status).toBe('n/a');
    expect(evaluateStoreFiles({ mode: 0o100640, uid: 0 }, { mode: 0o40750, uid: 0 }).status).toBe('pass');
    expect(evaluateStoreFiles({ mode: 0o100644, uid: 0 }, { mode: 0o40750, uid: 0 }).status).toBe('fail');
  });
});

describe('planChange and list rows (the CLI core)', () => {
  it('add/rotate tickets: the shown ticket verifies against the stored hash, the old one keeps its overlap; list shows lagging nodes and pending keys', async () => {
    const { planChange, listRows } = await import('../../../src/principals/command.js');
    const { verifyTicket } = await import('../../../src/router/auth/ticket.js');
    const { configSchema } = await import('../../../src/config/schema.js');
    const cfg = configSchema.parse({
      cluster: 'lab',
      nodes: [{ name: 'n1', ssh: 'root@198.51.100.11', endpoint: '192.0.2.11' }],
      router: { realms: [{ name: 'app', roles: [{ name: 'user' }] }], principals: { rotationOverlapSeconds: 60 } },
    });
    const added = planChange(parsePrincipalArgs(['add', 'alice', '--method', 'ticket', '--role', 'user']), cfg, 'app', undefined, [], T0);
    expect(verifyTicket(String(added.reveal.ticket), added.record.credentials[0]!.value)).toBe(true);
    const rotated = planChange(parsePrincipalArgs(['rotate', 'alice']), cfg, 'app', added.record, [], T0 + 1000);
    expect(rotated.record.credentials.map((c) => c.notAfter)).toEqual([T0 + 61_000, undefined]);
    expect(verifyTicket(String(rotated.reveal.ticket), rotated.record.credentials[1]!.value)).toBe(true);
    expect(() => planChange(parsePrincipalArgs(['approve', 'alice']), cfg, 'app', rotated.record, [], T0 + 2000)).toThrow(PrincipalError);
    const enrolled = planChange(parsePrincipalArgs(['enroll', 'dev1', '--role', 'user']), cfg, 'app', undefined, [], T0);
    expect(codeMatches(String(enrolled.reveal.activationCode), enrolled.record.enrolment!.codeHash)).toBe(true);
    const sub: Submission = { realm: 'app', authid: 'dev1', enrolmentId: enrolled.record.enrolment!.id, pubkey: KEY_A, at: T0, source: '192.0.2.1' };
    const rows = listRows(
      [
        { node: 'n1', dump: { store: { format: 1, principals: [rotated.record, enrolled.record] }, submissions: [sub] } },
        { node: 'n2', dump: { store: { format: 1, principals: [added.record, enrolled.record] }, submissions: [] } },
        { node: 'n3' },
      ],
      T0 + 3000,
    );
    expect(rows.map((r) => [r.authid, r.state, r.lagging])).toEqual([
      ['alice', 'active', ['n2']],
      ['dev1', 'pending', []],
    ]);
    expect(rows[1]!.submitted).toEqual([{ node: 'n1', pubkey: KEY_A, at: T0, source: '192.0.2.1' }]);
  });
});
