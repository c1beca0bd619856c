import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { logSecurityEvent } from '../log/security-event.js';
import { Systemctl } from '../systemd/systemctl.js';
import { applyRecord, recordSchema, type PrincipalRecord, type PrincipalStore, type Submission } from '../router/principals/model.js';
import { ENROLMENTS_DIR, PRINCIPALS_FILE, pruneSubmissions, readStore, readSubmissions, writeStore } from '../router/principals/store.js';

/** One node's principals: its store and the activation codes its router took. */
export interface NodeDump {
  store: PrincipalStore;
  submissions: Submission[];
}

export interface NodePaths {
  store: string;
  enrolments: string;
}
export const NODE_PATHS: NodePaths = { store: PRINCIPALS_FILE, enrolments: ENROLMENTS_DIR };

export function dumpNode(paths: NodePaths = NODE_PATHS): NodeDump {
  return { store: readStore(paths.store), submissions: readSubmissions(paths.enrolments) };
}

export interface PutResult {
  applied: boolean;
  version: number;
  /** The version the node had before (if any). */
  had?: number;
  /** "router reloaded", "router not running" … */
  note: string;
}

/**
 * The node side of every change: keeps `rec` if it is newer than the node's record of that principal,
 * writes the store atomically (root:ROUTERGID 0640), drops submissions of closed enrolments, and reloads
 * the router (SIGHUP: it re-reads the store and ends revoked sessions; nothing restarts).
 */
export async function putOnNode(input: unknown, routerGid: number | undefined, log: Logger, paths: NodePaths = NODE_PATHS, reload = reloadRouter): Promise<PutResult> {
  const rec: PrincipalRecord = recordSchema.parse(input);
  const r = applyRecord(readStore(paths.store), rec);
  if (!r.applied) return { applied: false, version: rec.version, ...(r.had !== undefined ? { had: r.had } : {}), note: `kept the newer version ${r.had}` };
  writeStore(r.store, paths.store, routerGid);
  if (existsSync(paths.enrolments)) pruneSubmissions(r.store, paths.enrolments);
  logSecurityEvent(
    log,
    rec.revokedAt !== undefined ? 'principal.revoked' : 'principal.changed',
    { realm: rec.realm, authid: rec.authid, role: rec.role, method: rec.method, version: rec.version, ...(rec.revokeReason ? { why: rec.revokeReason } : {}) },
    rec.revokedAt !== undefined ? 'warn' : 'info',
  );
  return { applied: true, version: rec.version, ...(r.had !== undefined ? { had: r.had } : {}), note: await reload() };
}

async function reloadRouter(): Promise<string> {
  const sc = new Systemctl();
  if (!(await sc.available().catch(() => false)) || !(await sc.isActive('bulwark-router.service'))) return 'router not running (it reads the store when it starts)';
  await sc.act('reload', ['bulwark-router.service']);
  return 'router reloaded';
}
