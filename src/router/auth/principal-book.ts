import { keyOf, liveCredentials, type PrincipalRecord, type Submission } from '../principals/model.js';
import { readStore, readSubmissions, writeSubmission } from '../principals/store.js';

/**
 * The router's view of the principals store (src/principals): the store file, read at start and on
 * reload (SIGHUP), and the enrolment directory, where the router itself records each activation code a
 * client used (with the key it proved). A store that fails to read on reload leaves the previous view
 * in place (the caller logs it).
 */
export class PrincipalBook {
  private records = new Map<string, PrincipalRecord>();
  /** Cryptosign records by realm + public key (current, overlapping and submitted keys). */
  private byKey = new Map<string, PrincipalRecord[]>();
  private submissions = new Map<string, Submission>();

  constructor(
    readonly file: string,
    readonly enrolmentsDir: string | undefined,
  ) {
    this.reload();
  }

  /** Reads the store and the submissions again; throws (keeping the old view) if the store is bad. */
  reload(): { principals: number; submissions: number } {
    const store = readStore(this.file);
    const subs = this.enrolmentsDir ? readSubmissions(this.enrolmentsDir) : [];
    const records = new Map<string, PrincipalRecord>();
    for (const r of store.principals) records.set(keyOf(r.realm, r.authid), r);
    this.records = records;
    this.submissions = new Map(subs.map((s) => [subKey(s), s]));
    this.index();
    return { principals: records.size, submissions: subs.length };
  }

  private index(): void {
    const byKey = new Map<string, PrincipalRecord[]>();
    const add = (realm: string, pubkey: string, r: PrincipalRecord) => {
      const k = keyOf(realm, pubkey);
      byKey.set(k, [...(byKey.get(k) ?? []), r]);
    };
    for (const r of this.records.values()) {
      if (r.method !== 'cryptosign' || r.revokedAt !== undefined) continue;
      for (const c of r.credentials) add(r.realm, c.value, r);
      const s = r.enrolment ? this.submissions.get(subKey({ realm: r.realm, authid: r.authid, enrolmentId: r.enrolment.id })) : undefined;
      if (s) add(r.realm, s.pubkey, r);
    }
    this.byKey = byKey;
  }

  record(realm: string, authid: string): PrincipalRecord | undefined {
    return this.records.get(keyOf(realm, authid));
  }

  /** The submission recorded here for the record's open enrolment, if any. */
  submissionOf(r: PrincipalRecord): Submission | undefined {
    return r.enrolment ? this.submissions.get(subKey({ realm: r.realm, authid: r.authid, enrolmentId: r.enrolment.id })) : undefined;
  }

  /**
   * The cryptosign principal `pubkey` belongs to on `realm` (restricted to `authid` when given):
   * 'live' when the key authenticates at `now`, 'pending' when it was submitted with an activation code
   * and awaits approval.
   */
  byPubkey(realm: string, pubkey: string, authid: string | undefined, now: number): { rec: PrincipalRecord; how: 'live' | 'pending' } | undefined {
    for (const r of this.byKey.get(keyOf(realm, pubkey)) ?? []) {
      if (authid !== undefined && r.authid !== authid) continue;
      if (liveCredentials(r, now).some((c) => c.value === pubkey)) return { rec: r, how: 'live' };
      if (this.submissionOf(r)?.pubkey === pubkey) return { rec: r, how: 'pending' };
    }
    return undefined;
  }

  /** Records a used activation code; false when this enrolment was already used on this node. */
  submit(s: Submission): boolean {
    if (!this.enrolmentsDir) return false;
    if (this.submissions.has(subKey(s))) return false;
    if (!writeSubmission(this.enrolmentsDir, s)) return false;
    this.submissions.set(subKey(s), s);
    this.index();
    return true;
  }
}

const subKey = (s: Pick<Submission, 'realm' | 'authid' | 'enrolmentId'>): string => `${s.realm}\u0000${s.authid}\u0000${s.enrolmentId}`;
