import { createHash } from 'node:crypto';
import { chownSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ENROLMENTS_DIR, PRINCIPALS_FILE } from '../../config/locate.js';
import { emptyStore, storeSchema, submissionSchema, type PrincipalStore, type Submission } from './model.js';

/**
 * Files of the principals store on a node. The store directory is root:ROUTER 0750 with the file
 * root:ROUTER 0640: root (the CLI) writes, the router container reads (mounted read-only). The
 * enrolment directory is the router's own (0700, mounted read-write): one file per accepted activation
 * code, created exclusively so a code is taken once per node.
 */
export { ENROLMENTS_DIR, PRINCIPALS_DIR, PRINCIPALS_FILE } from '../../config/locate.js';

export class StoreError extends Error {}

/** Reads and validates the store; a missing file is an empty store. Errors name the file and the field. */
export function readStore(file = PRINCIPALS_FILE): PrincipalStore {
  if (!existsSync(file)) return emptyStore();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StoreError(`${file}: not JSON: ${(e as Error).message}`);
  }
  const r = storeSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new StoreError(`${file}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  return r.data;
}

/** Writes `text` to `file` atomically (temp file in the same directory, fsync, rename), mode and owner set before the rename. */
export function writeAtomic(file: string, text: string, mode: number, gid?: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (gid !== undefined) chownSync(tmp, 0, gid);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeStore(store: PrincipalStore, file = PRINCIPALS_FILE, gid?: number): void {
  writeAtomic(file, JSON.stringify(storeSchema.parse(store), null, 1) + '\n', 0o640, gid);
}

/** The file name of an enrolment's submission: one per enrolment, whatever the key. */
export function submissionFile(dir: string, s: Pick<Submission, 'realm' | 'authid' | 'enrolmentId'>): string {
  return join(dir, `${createHash('sha256').update(`${s.realm}\u0000${s.authid}\u0000${s.enrolmentId}`).digest('hex').slice(0, 40)}.json`);
}

/** Records a submission unless one exists for that enrolment (exclusive create). False: the code was already used here. */
export function writeSubmission(dir: string, s: Submission): boolean {
  const file = submissionFile(dir, s);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(s) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Every valid submission in `dir` (unreadable or invalid files are skipped). */
export function readSubmissions(dir = ENROLMENTS_DIR): Submission[] {
  if (!existsSync(dir)) return [];
  const out: Submission[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const r = submissionSchema.safeParse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
      if (r.success) out.push(r.data);
    } catch {
      // a half-written or foreign file: not a submission
    }
  }
  return out;
}

/** Removes submissions whose enrolment is no longer open in `store` (approved, rejected, re-enrolled). */
export function pruneSubmissions(store: PrincipalStore, dir = ENROLMENTS_DIR): number {
  let n = 0;
  const open = new Set(store.principals.flatMap((p) => (p.enrolment && p.revokedAt === undefined ? [`${p.realm}\u0000${p.authid}\u0000${p.enrolment.id}`] : [])));
  for (const s of readSubmissions(dir)) {
    if (open.has(`${s.realm}\u0000${s.authid}\u0000${s.enrolmentId}`)) continue;
    rmSync(submissionFile(dir, s), { force: true });
    n++;
  }
  return n;
}
