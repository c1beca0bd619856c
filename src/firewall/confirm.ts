import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Confirm-or-rollback state under /var/lib/bulwark/firewall/ (a parameter for tests). */
export const FIREWALL_STATE_DIR = '/var/lib/bulwark/firewall';

export interface Pending {
  token: string;
  /** ms since epoch */
  deadline: number;
  appliedAt: number;
}

/** "60s", "2m", "90" (seconds) → ms. Pure. */
export function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`bad duration "${s}" (use e.g. 60s or 2m)`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms < 1000 || ms > 3_600_000) throw new Error(`duration ${s} must be between 1s and 60m`);
  return ms;
}

export type RollbackDecision = 'rollback' | 'wait' | 'nothing-pending' | 'superseded';

/** What the rollback timer does when it fires for `token` at `now`. Pure. */
export function decideRollback(pending: Pending | null, token: string, now: number): RollbackDecision {
  if (!pending) return 'nothing-pending';
  if (pending.token !== token) return 'superseded';
  return now >= pending.deadline ? 'rollback' : 'wait';
}

export const newToken = () => randomBytes(8).toString('hex');

export class FirewallState {
  constructor(readonly dir: string = FIREWALL_STATE_DIR) {}
  get previousPath() {
    return join(this.dir, 'previous.json');
  }
  get pendingPath() {
    return join(this.dir, 'pending.json');
  }
  get holdPath() {
    return join(this.dir, 'hold.json');
  }
  private async ensure() {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }
  /** Saves the table as it was before an apply (`nft -j list table`), or "absent". */
  async savePrevious(listing: string | null): Promise<void> {
    await this.ensure();
    writeFileAtomic(this.previousPath, JSON.stringify({ savedAt: Date.now(), listing }), { mode: 0o600 });
  }
  async readPrevious(): Promise<{ listing: string | null } | null> {
    try {
      return JSON.parse(await readFile(this.previousPath, 'utf8')) as { listing: string | null };
    } catch {
      return null;
    }
  }
  async setPending(p: Pending): Promise<void> {
    await this.ensure();
    writeFileAtomic(this.pendingPath, JSON.stringify(p), { mode: 0o600 });
  }
  async readPending(): Promise<Pending | null> {
    try {
      return JSON.parse(await readFile(this.pendingPath, 'utf8')) as Pending;
    } catch {
      return null;
    }
  }
  async clearPending(): Promise<void> {
    await rm(this.pendingPath, { force: true });
  }
  /** After a rollback the agent keeps the restored table until the plan changes (or `apply` runs again). */
  async setHold(planKey: string, reason: string): Promise<void> {
    await this.ensure();
    writeFileAtomic(this.holdPath, JSON.stringify({ planKey, reason, at: new Date().toISOString() }), { mode: 0o600 });
  }
  async readHold(): Promise<{ planKey: string; reason: string; at: string } | null> {
    try {
      return JSON.parse(await readFile(this.holdPath, 'utf8')) as { planKey: string; reason: string; at: string };
    } catch {
      return null;
    }
  }
  async clearHold(): Promise<void> {
    await rm(this.holdPath, { force: true });
  }
}
