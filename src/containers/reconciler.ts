import { chownSync, existsSync, mkdirSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ReconcileContext, ReconcileReport, Reconciler } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { Systemctl } from '../systemd/systemctl.js';
import { installUnitFiles, writeIfChanged } from '../systemd/units.js';
import { run } from '../util/exec.js';
import { VERSION } from '../version.js';
import { ROUTER_ENROLMENTS_DIR, ROUTER_PRINCIPALS_DIR, ROUTER_STATE_DIR } from './argv.js';
import { DEFAULT_RUNTIME_DIR, defaultRouterImageSpec, ensureRouterImage } from './image-router.js';
import { appUnit, routerComponents, ROUTER_COMPONENTS_FILE, TMPFILES_CONF, tmpfilesConf } from './plan.js';
import { listAppSpecs } from './state.js';
import { ensureRouterTls } from './tls.js';

/** Unit files of this capability that a node carries in /etc/systemd/system. */
export const CONTAINER_UNITS = ['bulwark-router.service', 'bulwark-router-https.socket', 'bulwark-router-http.socket', 'bulwark-app@.service', 'bulwark-app-docker@.service'];
const ROUTER_SOCKETS = ['bulwark-router-https.socket', 'bulwark-router-http.socket'];

/**
 * Keeps a node's containers as decided: the router image built from the installed runtime (rebuilt when
 * the runtime changes), our unit files, the component directories and router components derived from
 * the apps on this node, the router's sockets and service running, and every app's unit active.
 * Does nothing where there is no installed runtime or no systemd (a build host).
 */
export function createContainersReconciler(runtimeDir = DEFAULT_RUNTIME_DIR): Reconciler<Config> {
  return {
    name: 'containers',
    async reconcile(ctx: ReconcileContext<Config>): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'containers', changed: false, drift: [], notes: [] };
      try {
        if (!existsSync(join(runtimeDir, 'node'))) {
          report.notes.push(`no runtime in ${runtimeDir}: nothing to run`);
          return report;
        }
        const sc = new Systemctl();
        if (!(await sc.available())) {
          report.notes.push('systemd is not running: containers not managed');
          return report;
        }
        if ((await run(['podman', '--version']).catch(() => ({ code: 127 }))).code !== 0) {
          report.drift.push('podman is not installed');
          return report;
        }
        const uid = ctx.config.apps.routerUid;
        if (!existsSync(ROUTER_STATE_DIR)) {
          mkdirSync(ROUTER_STATE_DIR, { recursive: true, mode: 0o750 });
          chownSync(ROUTER_STATE_DIR, 0, uid);
          chmodSync(ROUTER_STATE_DIR, 0o750);
          report.drift.push(`${ROUTER_STATE_DIR} was missing`);
        } else if (statSync(ROUTER_STATE_DIR).gid !== uid) {
          chownSync(ROUTER_STATE_DIR, 0, uid);
          report.drift.push(`${ROUTER_STATE_DIR} had the wrong group`);
        }
        // the principals store (root:router 0750, read-only in the router) and the router's enrolment directory (router-owned 0700)
        for (const [dir, owner, mode] of [
          [ROUTER_PRINCIPALS_DIR, 0, 0o750],
          [ROUTER_ENROLMENTS_DIR, uid, 0o700],
        ] as const) {
          const st = existsSync(dir) ? statSync(dir) : undefined;
          if (st && st.uid === owner && st.gid === uid && (st.mode & 0o777) === mode) continue;
          mkdirSync(dir, { recursive: true, mode });
          chownSync(dir, owner, uid);
          chmodSync(dir, mode);
          report.drift.push(`${dir} ${st ? 'had the wrong owner or mode' : 'was missing'}`);
        }
        const tls = await ensureRouterTls(ctx.config, ctx.nodeName);
        if (tls.length) report.drift.push(`self-signed TLS certificate made: ${tls[0]}`);
        const image = await ensureRouterImage(defaultRouterImageSpec(uid, VERSION, runtimeDir));
        if (image.changed) report.drift.push(`router image ${image.record.ref} (re)built`);
        const unitsChanged = installUnitFiles(CONTAINER_UNITS);
        if (unitsChanged.length) {
          report.drift.push(`unit files updated: ${unitsChanged.join(' ')}`);
          await sc.daemonReload();
        }
        const apps = listAppSpecs();
        const tmpChanged = writeIfChanged(TMPFILES_CONF, tmpfilesConf(apps, uid), 0o644);
        await run(['systemd-tmpfiles', '--create', TMPFILES_CONF]);
        const compsChanged = writeIfChanged(ROUTER_COMPONENTS_FILE, JSON.stringify(routerComponents(apps), null, 2) + '\n', 0o644);
        if (tmpChanged || compsChanged) report.drift.push('component directories or router components were out of date');
        for (const s of ROUTER_SOCKETS) {
          if (!(await sc.isActive(s))) {
            report.drift.push(`${s} inactive`);
            await sc.act('enable', [s], { now: true });
          }
        }
        if (!(await sc.isActive('bulwark-router.service'))) {
          report.drift.push('bulwark-router.service inactive');
          await sc.act('enable', ['bulwark-router.service']);
          // a router that hit its start limit (a broken unit or image, since fixed) stays failed until reset
          await sc.act('reset-failed', ['bulwark-router.service']).catch(() => undefined);
          await sc.act('start', ['bulwark-router.service'], { noBlock: true });
        } else if (image.changed || unitsChanged.includes('bulwark-router.service')) {
          report.notes.push('router restarted for a new image or unit');
          await sc.act('restart', ['bulwark-router.service'], { noBlock: true });
        } else if (compsChanged) {
          await sc.act('reload', ['bulwark-router.service']);
        }
        for (const a of apps) {
          const unit = appUnit(a);
          if (await sc.isActive(unit)) continue;
          report.drift.push(`${unit} inactive`);
          await sc.act('enable', [unit]);
          await sc.act('start', [unit], { noBlock: true });
        }
        report.changed = report.drift.length > 0;
      } catch (e) {
        report.error = e instanceof Error ? e.message.slice(0, 500) : String(e);
      }
      return report;
    },
  };
}

export const containersReconciler: Reconciler<Config> = createContainersReconciler();
