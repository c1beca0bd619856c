import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.js';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import { principalState, type PrincipalStore } from '../router/principals/model.js';
import { PRINCIPALS_FILE, readStore } from '../router/principals/store.js';

const DAY = 86_400_000;

/**
 * Posture of the principals store (pure): principals past their expiry that are still in force (not
 * revoked), and active principals whose newest credential is older than `maxAgeDays` (0: not checked).
 */
export function evaluatePrincipals(store: PrincipalStore, now: number, maxAgeDays: number): AuditCheck[] {
  const live = store.principals.filter((p) => p.revokedAt === undefined);
  const expired = live.filter((p) => principalState(p, now) === 'expired').map((p) => `${p.realm}/${p.authid}`);
  const stale =
    maxAgeDays > 0
      ? live
          .filter((p) => principalState(p, now) === 'active')
          .flatMap((p) => {
            const newest = Math.max(...p.credentials.map((c) => c.createdAt));
            return p.credentials.length && now - newest > maxAgeDays * DAY ? [`${p.realm}/${p.authid} (${Math.floor((now - newest) / DAY)} d)`] : [];
          })
      : [];
  return [
    {
      id: 'principals.expired',
      status: expired.length ? 'fail' : 'pass',
      evidence: expired.length ? `past expiry, not revoked: ${expired.join(', ')}` : `${live.length} principal(s), none past expiry`,
    },
    maxAgeDays > 0
      ? {
          id: 'principals.rotation-age',
          status: stale.length ? 'fail' : 'pass',
          evidence: stale.length ? `not rotated in ${maxAgeDays} days: ${stale.join(', ')}` : `every active credential is younger than ${maxAgeDays} days`,
        }
      : { id: 'principals.rotation-age', status: 'n/a', evidence: 'router.principals.maxCredentialAgeDays is 0' },
  ];
}

/** The store file's mode and owner: root-owned, 0640 (the router's group reads), directory 0750. Pure over stat results. */
export function evaluateStoreFiles(file: { mode: number; uid: number } | undefined, dir: { mode: number; uid: number } | undefined): AuditCheck {
  if (!file || !dir) return { id: 'principals.store-mode', status: 'n/a', evidence: 'no principals store on this node' };
  const ok = file.uid === 0 && (file.mode & 0o777) === 0o640 && dir.uid === 0 && (dir.mode & 0o777) === 0o750;
  return {
    id: 'principals.store-mode',
    status: ok ? 'pass' : 'fail',
    evidence: `file ${(file.mode & 0o777).toString(8)} uid ${file.uid}, directory ${(dir.mode & 0o777).toString(8)} uid ${dir.uid} (want 640/750, root)`,
  };
}

export const principalsAudit: AuditProvider<Config> = {
  name: 'principals',
  async run(ctx) {
    const st = (p: string) => (existsSync(p) ? statSync(p) : undefined);
    const checks: AuditCheck[] = [evaluateStoreFiles(st(PRINCIPALS_FILE), st(dirname(PRINCIPALS_FILE)))];
    try {
      checks.push(...evaluatePrincipals(readStore(), Date.now(), ctx.config.router.principals.maxCredentialAgeDays));
    } catch (e) {
      checks.push({ id: 'principals.store', status: 'fail', evidence: (e as Error).message });
    }
    return checks;
  },
};
