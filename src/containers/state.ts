import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { appSpecSchema, type AppSpec, type AppsConfig } from './schema.js';
import { writeIfChanged } from '../systemd/units.js';

/** Where a node keeps what `bulwark app add` decided (one JSON file per app, root-only). */
export const APPS_STATE_DIR = '/var/lib/bulwark/apps';

export function listAppSpecs(dir = APPS_STATE_DIR): AppSpec[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => appSpecSchema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
}

export function readAppSpec(name: string, dir = APPS_STATE_DIR): AppSpec | undefined {
  const p = join(dir, `${name}.json`);
  return existsSync(p) ? appSpecSchema.parse(JSON.parse(readFileSync(p, 'utf8'))) : undefined;
}

export function writeAppSpec(spec: AppSpec, dir = APPS_STATE_DIR): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return writeIfChanged(join(dir, `${spec.name}.json`), JSON.stringify(appSpecSchema.parse(spec), null, 2) + '\n', 0o600);
}

export function removeAppSpec(name: string, dir = APPS_STATE_DIR): void {
  rmSync(join(dir, `${name}.json`), { force: true });
}

/**
 * A uid for a new app: its previous one if it had one, else the lowest free slot in
 * uidBase..uidBase+maxApps-1. Pure. Throws when every slot is taken.
 */
export function allocateUid(name: string, existing: readonly AppSpec[], cfg: Pick<AppsConfig, 'uidBase' | 'maxApps'>): number {
  const mine = existing.find((a) => a.name === name);
  if (mine) return mine.uid;
  const used = new Set(existing.map((a) => a.uid));
  for (let uid = cfg.uidBase; uid < cfg.uidBase + cfg.maxApps; uid++) if (!used.has(uid)) return uid;
  throw new Error(`no free app uid in ${cfg.uidBase}..${cfg.uidBase + cfg.maxApps - 1} (apps.maxApps)`);
}
