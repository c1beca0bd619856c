import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { PeerMessenger, PeerMessengerFactory } from '../core/peers.js';
import type { ReconcileContext, ReconcileReport, Reconciler } from '../core/reconciler.js';
import { Systemctl } from '../systemd/systemctl.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { ensureUserSeed, makeRouteCert, routeCertDue, routeCertFacts } from './keys.js';
import { type MeshAddresses, readMemberNames } from './members.js';
import { DEBIAN_NATS_UNIT, type FabricPaths, NATS_UNIT, nodePaths, PROXY_SERVICE_UNIT, PROXY_SOCKET_UNIT } from './paths.js';
import { type FabricPlan, planFabric, routesFile } from './plan.js';
import { renderNatsConfig, renderNatsUnit, renderProxyService, renderProxySocket, ROUTER_PUBLISH_DENY, ROUTER_SUBJECTS, routerFabricSection } from './render.js';
import { getMonitor, routesLine, routeStates, routezSchema, varzSchema } from './routez.js';

export interface FabricReconcilerOptions {
  /** The mesh's address allocation (src/mesh/addresses.ts, handed in by src/cli/plugins.ts). */
  addresses: MeshAddresses;
  /** Signed messages to the other members (the mesh's): route certificates travel this way. */
  peers?: PeerMessengerFactory<Config>;
  /** Called when the route list changed, so the firewall opens or closes the route port in the same pass. */
  afterRoutesChanged?: (ctx: ReconcileContext<Config>) => Promise<void>;
  paths?: FabricPaths;
  systemctl?: Systemctl;
  /** Whether `address` is up on `iface` (nats-server cannot bind the route port before). */
  hasAddress?: (iface: string, address: string) => boolean;
  now?: () => Date;
  /** The mesh's member list (default: the node's). */
  membersFile?: string;
}

const ALL_UNITS = [NATS_UNIT, PROXY_SOCKET_UNIT, PROXY_SERVICE_UNIT];
/** How often a peer's certificate is asked for again (a peer may have made a new one). */
const CERT_REFRESH_MS = 10 * 60_000;

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes when different; true when it wrote. */
function put(path: string, text: string, mode: number): boolean {
  if (readOr(path) === text) return false;
  writeFileAtomic(path, text, { mode });
  chmodSync(path, mode);
  return true;
}

function gidOf(group: string): number | undefined {
  for (const line of (readOr('/etc/group') ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f[2] && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

const defaultHasAddress = (iface: string, address: string): boolean => (networkInterfaces()[iface] ?? []).some((a) => a.address === address);

/** The peers' route certificates this node holds, by member name. */
export function knownPeerCerts(peersDir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(peersDir)) return out;
  for (const f of readdirSync(peersDir)) {
    const m = /^([a-z][a-z0-9-]{0,30})\.pem$/.exec(f);
    const pem = m ? readOr(join(peersDir, f)) : undefined;
    if (m?.[1] && pem && routeCertFacts(pem)) out.set(m[1], pem);
  }
  return out;
}

/** A peer's certificate is accepted only for that peer's own mesh address. Pure. */
export function acceptablePeerCert(pem: string, address: string | undefined): boolean {
  const f = routeCertFacts(pem);
  return Boolean(address && f?.ips.includes(address));
}

/**
 * The fabric's host side on a node: with two or more mesh members, nats-server (bulwark-nats.service)
 * configured from the member list, route certificates exchanged with the peers over the mesh, the router's
 * nkey seed and `fabric:` section, the client socket for the router container; with one, none of it runs.
 * Debian's own nats-server.service (enabled by the package, no authentication) is always masked.
 */
export function createFabricReconciler(o: FabricReconcilerOptions): Reconciler<Config> {
  const paths = o.paths ?? nodePaths();
  const sc = o.systemctl ?? new Systemctl();
  const hasAddress = o.hasAddress ?? defaultHasAddress;
  const now = o.now ?? (() => new Date());
  const asked = new Map<string, number>();
  let handlerOn: PeerMessenger | undefined;
  /** What the message handler needs from the latest pass. */
  let latest: { plan: FabricPlan } | undefined;

  function ownCert(): string | undefined {
    return readOr(paths.routeCert);
  }

  function storePeerCert(name: string, pem: string): boolean {
    mkdirSync(paths.peersDir, { recursive: true, mode: 0o755 });
    return put(join(paths.peersDir, `${name}.pem`), pem.trim() + '\n', 0o644);
  }

  function listen(node: PeerMessenger): void {
    if (handlerOn === node) return;
    handlerOn = node;
    node.onMessage('fabric.cert', async (from, body) => {
      const plan = latest?.plan;
      if (!plan?.active) throw new Error('no fabric on this node');
      const peer = plan.peers.find((p) => p.name === from);
      if (!peer || !acceptablePeerCert(body.cert, peer.address)) throw new Error(`certificate refused: not for ${from}'s mesh address`);
      storePeerCert(from, body.cert);
      const mine = ownCert();
      if (!mine) throw new Error('no route certificate yet');
      return { cert: mine };
    });
  }

  async function exchangeCerts(ctx: ReconcileContext<Config>, plan: Extract<FabricPlan, { active: true }>, report: ReconcileReport): Promise<void> {
    if (!o.peers) return;
    const node = await o.peers(ctx.config, ctx.nodeName, ctx.log);
    if (!node.ready()) return;
    listen(node);
    const mine = ownCert();
    if (!mine) return;
    const t = now().getTime();
    await Promise.all(
      plan.peers
        .filter((p) => !p.certKnown || t - (asked.get(p.name) ?? 0) > CERT_REFRESH_MS)
        .map(async (p) => {
          asked.set(p.name, t);
          try {
            const reply = (await node.send(p.name, 'fabric.cert', { cert: mine })) as { cert?: unknown } | undefined;
            const pem = typeof reply?.cert === 'string' ? reply.cert : '';
            if (!acceptablePeerCert(pem, p.address)) throw new Error('its certificate is not for its mesh address');
            if (storePeerCert(p.name, pem)) report.drift.push(`route certificate of ${p.name} stored`);
          } catch (e) {
            asked.delete(p.name);
            report.notes.push(`fabric: no route certificate from ${p.name} yet (${e instanceof Error ? e.message : String(e)})`);
          }
        }),
    );
  }

  async function unitsOff(report: ReconcileReport): Promise<void> {
    const present = ALL_UNITS.filter((u) => existsSync(join(paths.unitDir, u)));
    for (const u of present) {
      if (await sc.isActive(u)) {
        await sc.act('disable', [u], { now: true });
        report.changed = true;
        report.drift.push(`${u} stopped`);
      }
    }
  }

  async function maskDebianUnit(report: ReconcileReport): Promise<void> {
    if (!existsSync(`/lib/systemd/system/${DEBIAN_NATS_UNIT}`) && !existsSync(`/usr/lib/systemd/system/${DEBIAN_NATS_UNIT}`)) return;
    const r = await sc.raw(['is-enabled', DEBIAN_NATS_UNIT]);
    if (r.stdout.trim() === 'masked') return;
    await sc.raw(['stop', DEBIAN_NATS_UNIT]);
    await sc.raw(['mask', DEBIAN_NATS_UNIT]);
    report.changed = true;
    report.drift.push(`${DEBIAN_NATS_UNIT} (the package's own, no authentication) masked`);
  }

  return {
    name: 'fabric',
    async reconcile(ctx): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'fabric', changed: false, drift: [], notes: [] };
      try {
        const cfg = ctx.config;
        await maskDebianUnit(report);
        const members = readMemberNames(o.membersFile);
        const addresses = members ? o.addresses(cfg.mesh.cidr, members, cfg.mesh.addresses) : new Map<string, string>();
        const known = knownPeerCerts(paths.peersDir);
        const plan = planFabric({
          cluster: cfg.cluster,
          fabric: cfg.fabric,
          meshInterface: cfg.mesh.interface,
          nodeName: ctx.nodeName,
          members,
          addresses,
          knownCerts: new Set(known.keys()),
        });
        latest = { plan };
        if (!plan.active) {
          report.notes.push(`fabric: off (${plan.reason})`);
          await unitsOff(report);
          for (const f of [paths.routesFile, paths.routerSection]) {
            if (existsSync(f)) {
              rmSync(f, { force: true });
              report.changed = true;
              if (f === paths.routesFile) await o.afterRoutesChanged?.(ctx);
              else await restartRouter(report);
            }
          }
          return report;
        }
        const natsGid = gidOf('nats');
        if (natsGid === undefined) throw new Error('no nats group: the nats-server package is not installed');
        mkdirSync(paths.etcDir, { recursive: true, mode: 0o755 });
        chmodSync(paths.etcDir, 0o755);
        mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
        chmodSync(paths.stateDir, 0o700);
        mkdirSync(paths.natsDir, { recursive: true, mode: 0o750 });
        chownSync(paths.natsDir, 0, natsGid);
        chmodSync(paths.natsDir, 0o750);
        // forget the certificates of nodes no longer members
        for (const name of known.keys()) {
          if (!plan.peers.some((p) => p.name === name)) {
            rmSync(join(paths.peersDir, `${name}.pem`), { force: true });
            report.drift.push(`route certificate of ${name} (no longer a member) removed`);
          }
        }
        const router = ensureUserSeed(paths.routerSeed, cfg.apps.routerUid, cfg.apps.routerUid);
        if (router.made) report.drift.push('router nkey seed made');
        let restart = false;
        const due = routeCertDue(readOr(paths.routeCert), plan.self.address, now());
        if (due) {
          await makeRouteCert(paths.routeCert, paths.routeKey, plan.self.address, plan.self.name);
          report.drift.push(`route certificate made (${due})`);
          asked.clear(); // tell every peer about it
          restart = true;
        }
        // a peer that cannot be asked now never holds up this node's own NATS: it is asked again next pass
        await exchangeCerts(ctx, plan, report).catch((e: unknown) => report.notes.push(`fabric: route certificates not exchanged (${e instanceof Error ? e.message : String(e)})`));
        const peerCerts = knownPeerCerts(paths.peersDir);
        const withCert = plan.peers.filter((p) => peerCerts.has(p.name));
        const bundle = [ownCert() ?? '', ...withCert.map((p) => peerCerts.get(p.name) ?? '')].map((s) => s.trim()).join('\n') + '\n';
        const confChanged = [
          put(paths.peersBundle, bundle, 0o644),
          put(
            paths.natsConf,
            renderNatsConfig({
              serverName: plan.self.name,
              clusterName: plan.clusterName,
              monitorPort: cfg.fabric.monitorPort,
              routeHost: plan.self.address,
              routePort: plan.routePort,
              routes: withCert.map((p) => p.address),
              tls: { cert: paths.routeCert, key: paths.routeKeyForServer, ca: paths.peersBundle },
              users: [{ nkey: router.publicKey, publish: ROUTER_SUBJECTS, subscribe: ROUTER_SUBJECTS, publishDeny: ROUTER_PUBLISH_DENY }],
              jetstream: { storeDir: paths.jetstreamDir, maxMemoryStore: cfg.fabric.maxMemoryStore, maxFileStore: cfg.fabric.maxFileStore },
            }),
            0o640,
          ),
        ].some(Boolean);
        chownSync(paths.natsConf, 0, natsGid);
        const unitsChanged = [
          put(
            join(paths.unitDir, NATS_UNIT),
            renderNatsUnit({
              natsServer: cfg.fabric.natsServer,
              confPath: paths.natsConf,
              routeKey: paths.routeKey,
              stateDirectory: paths.jetstreamDir.replace(/^\/var\/lib\//, ''),
              meshCidr: cfg.mesh.cidr,
            }),
            0o644,
          ),
          put(join(paths.unitDir, PROXY_SOCKET_UNIT), renderProxySocket(paths.socket), 0o644),
          put(join(paths.unitDir, PROXY_SERVICE_UNIT), renderProxyService(), 0o644),
        ].some(Boolean);
        if (unitsChanged) {
          await sc.daemonReload();
          report.drift.push('fabric units written');
          restart = true;
        }
        // A reload adds routes, but nats-server keeps an established route it accepted even after the peer's
        // certificate left the pinned bundle: a member that left is cut off by a restart.
        const before = new Set((JSON.parse(readOr(paths.routesFile) ?? '{"peers":[]}') as { peers: { name: string }[] }).peers.map((x) => x.name));
        const gone = [...before].filter((n) => !withCert.some((p) => p.name === n));
        if (gone.length) {
          restart = true;
          report.drift.push(`route(s) to ${gone.join(', ')} dropped: ${NATS_UNIT} restarts`);
        }
        if (put(paths.routesFile, JSON.stringify(routesFile({ ...plan, peers: withCert.map((p) => ({ ...p, certKnown: true })) }), null, 2) + '\n', 0o644)) {
          report.drift.push(`route list: ${withCert.map((p) => `${p.name} ${p.address}`).join(', ') || 'none yet'}`);
          await o.afterRoutesChanged?.(ctx);
        }
        if (put(paths.routerSection, JSON.stringify(routerFabricSection(plan.self.name, cfg.fabric, paths.socket, paths.routerSeed), null, 2) + '\n', 0o644)) {
          report.drift.push('router fabric section written');
          await restartRouter(report);
        }
        // the socket's directory: only root and the router's group enter it (the socket itself is 0666)
        mkdirSync(paths.socketDir, { recursive: true, mode: 0o750 });
        chownSync(paths.socketDir, 0, cfg.apps.routerUid);
        chmodSync(paths.socketDir, 0o750);
        if (!hasAddress(plan.meshInterface, plan.self.address)) {
          report.notes.push(`fabric: waiting for ${plan.self.address} on ${plan.meshInterface}`);
          return finish(report);
        }
        if (!(await sc.isActive(NATS_UNIT))) {
          report.drift.push(`${NATS_UNIT} inactive`);
          await sc.act('enable', [NATS_UNIT, PROXY_SOCKET_UNIT]);
          await sc.act('restart', [NATS_UNIT]);
          await sc.act('start', [PROXY_SOCKET_UNIT]);
        } else if (restart) {
          await sc.act('restart', [NATS_UNIT]);
          report.notes.push(`fabric: ${NATS_UNIT} restarted (new units or route certificate)`);
        } else if (confChanged) {
          await sc.act('reload', [NATS_UNIT]);
          report.notes.push(`fabric: ${NATS_UNIT} reloaded (SIGHUP) for a new route list or peer certificates`);
        }
        if (!(await sc.isActive(PROXY_SOCKET_UNIT))) {
          await sc.act('enable', [PROXY_SOCKET_UNIT]);
          await sc.act('start', [PROXY_SOCKET_UNIT]);
          report.drift.push(`${PROXY_SOCKET_UNIT} started`);
        }
        if (cfg.fabric.monitorPort) {
          try {
            const rz = routezSchema.parse(await getMonitor(cfg.fabric.monitorPort, '/routez'));
            report.notes.push(routesLine(routeStates(plan.peers, rz)));
            const vz = varzSchema.parse(await getMonitor(cfg.fabric.monitorPort, '/varz'));
            if (vz.config_load_time) report.notes.push(`fabric: nats-server ${vz.version ?? '?'} config loaded ${vz.config_load_time}`);
          } catch (e) {
            report.notes.push(`fabric: monitoring not answering yet (${e instanceof Error ? e.message : String(e)})`);
          }
        }
        return finish(report);
      } catch (e) {
        report.error = e instanceof Error ? e.message : String(e);
        return report;
      }

      function finish(r: ReconcileReport): ReconcileReport {
        if (r.drift.length) r.changed = true;
        return r;
      }
      async function restartRouter(r: ReconcileReport): Promise<void> {
        // the router reads its fabric: section at start (a cluster grew from one node or shrank to one)
        await sc.raw(['try-restart', '--no-block', 'bulwark-router.service']);
        r.notes.push('fabric: router restarted for its fabric section');
      }
    },
  };
}
