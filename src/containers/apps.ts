import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { runOk } from '../util/exec.js';
import type { Systemctl, UnitState } from '../systemd/systemctl.js';
import { installUnitFiles, writeIfChanged } from '../systemd/units.js';
import { podmanOk, loadImageArchive } from './podman.js';
import { appSpecSchema, type AppSpec, type AppsConfig } from './schema.js';
import { allocateUid, APPS_STATE_DIR, listAppSpecs, readAppSpec, removeAppSpec, writeAppSpec } from './state.js';
import { APP_ENV_DIR, appEnvFile, appSocketDir, appUnit, routerComponents, ROUTER_COMPONENTS_FILE, TMPFILES_CONF, tmpfilesConf } from './plan.js';

/**
 * The node-side (local) half of `bulwark app ...`: plain functions over the node's files and systemd.
 * The router learns about components from ROUTER_COMPONENTS_FILE and a reload (SIGHUP), never a
 * restart, so adding or removing one app leaves the other apps' sessions alone.
 */
export interface AppPaths {
  stateDir: string;
  envDir: string;
  tmpfilesConf: string;
  routerComponents: string;
}
export const NODE_PATHS: AppPaths = { stateDir: APPS_STATE_DIR, envDir: APP_ENV_DIR, tmpfilesConf: TMPFILES_CONF, routerComponents: ROUTER_COMPONENTS_FILE };

export interface AddRequest {
  name: string;
  image?: string;
  imageArchive?: string;
  realm?: string;
  role?: string;
  memory?: string;
  cpus?: number;
  pids?: number;
}

export interface AppDeps {
  systemctl: Systemctl;
  log: Logger;
  paths: AppPaths;
}

/** The image reference in `docker load` output ("Loaded image: REF" or "Loaded image ID: sha256:..."). Pure. */
export function dockerLoadedRef(stdout: string): string | undefined {
  return /Loaded image(?: ID)?:\s*(\S+)/.exec(stdout)?.[1];
}

/** Resolves an image reference or archive to the image id the unit pins (the recorded digest). */
async function resolveImage(req: AddRequest, runtime: AppSpec['runtime']): Promise<string> {
  if (runtime === 'docker') {
    let ref = req.image;
    if (req.imageArchive) {
      const r = await runOk(['docker', 'load', '--input', req.imageArchive], { timeoutMs: 600_000 });
      ref = dockerLoadedRef(r.stdout);
    }
    if (!ref) throw new Error('docker load gave no image reference');
    return (await runOk(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
  }
  const ref = req.imageArchive ? await loadImageArchive(req.imageArchive) : req.image;
  if (!ref) throw new Error('give --image or --image-archive');
  return (await podmanOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

/** Rewrites the files derived from the set of apps; returns whether the router's view changed. */
function writeDerived(apps: AppSpec[], cfg: AppsConfig, paths: AppPaths): { routerChanged: boolean } {
  writeIfChanged(paths.tmpfilesConf, tmpfilesConf(apps, cfg.routerUid), 0o644);
  const routerChanged = writeIfChanged(paths.routerComponents, JSON.stringify(routerComponents(apps), null, 2) + '\n', 0o644);
  return { routerChanged };
}

async function reloadRouter(deps: AppDeps): Promise<string> {
  if (!(await deps.systemctl.isActive('bulwark-router.service'))) return 'router not running: it reads the components when it starts';
  await deps.systemctl.act('reload', ['bulwark-router.service']);
  return 'router reloaded';
}

/** Polls until the unit is active (bounded). */
async function waitActive(sc: Systemctl, unit: string, timeoutMs = 90_000): Promise<UnitState | undefined> {
  const end = Date.now() + timeoutMs;
  let last: UnitState | undefined;
  while (Date.now() < end) {
    [last] = await sc.show([unit]);
    if (last?.activeState === 'active') return last;
    if (last?.activeState === 'failed') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

export interface AppResult {
  app: AppSpec;
  unit: string;
  state: string;
  notes: string[];
}

export async function addAppLocal(req: AddRequest, cfg: AppsConfig, deps: AppDeps): Promise<AppResult> {
  const existing = listAppSpecs(deps.paths.stateDir);
  const runtime = cfg.runtime;
  const image = await resolveImage(req, runtime);
  const spec = appSpecSchema.parse({
    name: req.name,
    image,
    runtime,
    uid: allocateUid(req.name, existing, cfg),
    realm: req.realm ?? cfg.realm,
    role: req.role ?? cfg.role,
    memory: req.memory ?? cfg.limits.memory,
    cpus: req.cpus ?? cfg.limits.cpus,
    pids: req.pids ?? cfg.limits.pids,
  });
  const notes: string[] = [];
  writeAppSpec(spec, deps.paths.stateDir);
  const apps = [...existing.filter((a) => a.name !== spec.name), spec];
  writeIfChanged(join(deps.paths.envDir, `${spec.name}.env`), appEnvFile(spec), 0o644);
  const { routerChanged } = writeDerived(apps, cfg, deps.paths);
  await runOk(['systemd-tmpfiles', '--create', deps.paths.tmpfilesConf]);
  if (installUnitFiles(['bulwark-app@.service', 'bulwark-app-docker@.service']).length) await deps.systemctl.daemonReload();
  if (routerChanged) notes.push(await reloadRouter(deps));
  const unit = appUnit(spec);
  // A changed image or limit takes effect by restarting only this app.
  await deps.systemctl.act('enable', [unit]);
  await deps.systemctl.act('restart', [unit]);
  const st = await waitActive(deps.systemctl, unit);
  return { app: spec, unit, state: st ? `${st.activeState}/${st.subState}` : 'unknown', notes };
}

export async function removeAppLocal(name: string, cfg: AppsConfig, deps: AppDeps): Promise<AppResult | undefined> {
  const spec = readAppSpec(name, deps.paths.stateDir);
  if (!spec) return undefined;
  const unit = appUnit(spec);
  await deps.systemctl.act('disable', [unit], { now: true }).catch((e: unknown) => deps.log.warn({ err: String(e) }, 'disable failed'));
  await deps.systemctl.act('reset-failed', [unit]).catch(() => undefined);
  removeAppSpec(name, deps.paths.stateDir);
  rmSync(join(deps.paths.envDir, `${name}.env`), { force: true });
  const apps = listAppSpecs(deps.paths.stateDir);
  const { routerChanged } = writeDerived(apps, cfg, deps.paths);
  const notes: string[] = [];
  if (routerChanged) notes.push(await reloadRouter(deps));
  rmSync(appSocketDir(name), { recursive: true, force: true });
  return { app: spec, unit, state: 'removed', notes };
}

export interface AppStatus {
  name: string;
  unit: string;
  image: string;
  uid: number;
  realm: string;
  role: string;
  active: string;
  sub: string;
  restarts: number;
}

export async function listAppsLocal(deps: AppDeps): Promise<AppStatus[]> {
  const apps = listAppSpecs(deps.paths.stateDir);
  const states = await deps.systemctl.show(apps.map(appUnit));
  return apps.map((a) => {
    const st = states.find((s) => s.id === appUnit(a));
    return {
      name: a.name,
      unit: appUnit(a),
      image: a.image.slice(0, 12),
      uid: a.uid,
      realm: a.realm,
      role: a.role,
      active: st?.activeState ?? 'unknown',
      sub: st?.subState ?? 'unknown',
      restarts: st?.restarts ?? 0,
    };
  });
}

/** `journalctl` argv for an app's log (the container's output goes to its unit's journal). Pure. */
export function appLogsArgv(a: Pick<AppSpec, 'name' | 'runtime'>, opts: { lines?: number; follow?: boolean }): string[] {
  return ['journalctl', '--no-pager', '--output=short-iso', '-u', appUnit(a), '-n', String(opts.lines ?? 200), ...(opts.follow ? ['--follow'] : [])];
}
