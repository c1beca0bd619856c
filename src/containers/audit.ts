import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { run } from '../util/exec.js';
import { parseUnit, securityExposure, unitValues } from '../systemd/units.js';
import { APP_SOCKET_MOUNT, appContainerName, COMPONENTS_DIR, ROUTER_CONTAINER, ROUTER_ENROLMENTS_DIR, ROUTER_FABRIC_DIR, ROUTER_PRINCIPALS_DIR, ROUTER_STATE_DIR } from './argv.js';
import { listAppSpecs } from './state.js';

/** The parts of `podman inspect` / `docker inspect` the checks read (validated: it is external input). */
const inspectSchema = z.looseObject({
  Name: z.string().optional(),
  EffectiveCaps: z.array(z.string()).nullable().optional(),
  Mounts: z
    .array(z.looseObject({ Type: z.string(), Source: z.string().optional(), Destination: z.string(), RW: z.boolean().optional() }))
    .nullable()
    .optional(),
  Config: z.looseObject({ User: z.string().optional() }).optional(),
  HostConfig: z.looseObject({
    NetworkMode: z.string().optional(),
    ReadonlyRootfs: z.boolean().optional(),
    CapAdd: z.array(z.string()).nullable().optional(),
    CapDrop: z.array(z.string()).nullable().optional(),
    SecurityOpt: z.array(z.string()).nullable().optional(),
    Privileged: z.boolean().optional(),
    Tmpfs: z.record(z.string(), z.string()).nullable().optional(),
  }),
});
export type ContainerInspect = z.infer<typeof inspectSchema>;

export function parseInspect(json: string): ContainerInspect[] {
  return z.array(inspectSchema).parse(JSON.parse(json));
}

export interface ExpectedMount {
  source: string;
  destination: string;
  rw: boolean;
}

/** The only mounts an app container may have: its socket directory. */
export const appMounts = (name: string, socketDir = `${COMPONENTS_DIR}/${name}`): ExpectedMount[] => [{ source: socketDir, destination: APP_SOCKET_MOUNT, rw: true }];
export const routerMounts = (): ExpectedMount[] => [
  { source: COMPONENTS_DIR, destination: COMPONENTS_DIR, rw: true },
  { source: '/etc/bulwark', destination: '/etc/bulwark', rw: false },
  { source: ROUTER_STATE_DIR, destination: ROUTER_STATE_DIR, rw: false },
  { source: ROUTER_PRINCIPALS_DIR, destination: ROUTER_PRINCIPALS_DIR, rw: false },
  { source: ROUTER_ENROLMENTS_DIR, destination: ROUTER_ENROLMENTS_DIR, rw: true },
  { source: ROUTER_FABRIC_DIR, destination: ROUTER_FABRIC_DIR, rw: false },
];

const TMPFS_ALLOWED = new Set(['/tmp']);

/** Verdicts on one container's isolation from its inspect data. Pure. */
export function evaluateContainer(id: string, c: ContainerInspect, mounts: readonly ExpectedMount[]): AuditCheck[] {
  const hc = c.HostConfig;
  const check = (what: string, ok: boolean, evidence: string): AuditCheck => ({ id: `container.${id}.${what}`, status: ok ? 'pass' : 'fail', evidence });
  const caps = [...(c.EffectiveCaps ?? []), ...(hc.CapAdd ?? [])];
  const nnp = (hc.SecurityOpt ?? []).some((o) => o === 'no-new-privileges' || o === 'no-new-privileges:true' || o === 'no-new-privileges=true');
  const user = c.Config?.User ?? '';
  const uid = user.split(':')[0] ?? '';
  const nonRoot = uid !== '' && uid !== '0' && uid !== 'root';
  const seen = (c.Mounts ?? []).map((m) => ({ type: m.Type, source: m.Source ?? '', destination: m.Destination, rw: m.RW ?? false }));
  const binds = seen.filter((m) => m.type !== 'tmpfs');
  const extraTmpfs = Object.keys(hc.Tmpfs ?? {}).filter((t) => !TMPFS_ALLOWED.has(t));
  const mountsOk = binds.length === mounts.length && mounts.every((e) => binds.some((m) => m.source === e.source && m.destination === e.destination && m.rw === e.rw)) && extraTmpfs.length === 0;
  const fmt = (ms: { source: string; destination: string; rw: boolean }[]) => ms.map((m) => `${m.source}:${m.destination}:${m.rw ? 'rw' : 'ro'}`).join(', ') || 'none';
  return [
    check('network-none', hc.NetworkMode === 'none', `network mode ${hc.NetworkMode ?? 'unknown'}`),
    check('read-only-root', hc.ReadonlyRootfs === true, `read-only root ${String(hc.ReadonlyRootfs ?? false)}`),
    check('no-capabilities', caps.length === 0 && hc.Privileged !== true, caps.length ? `capabilities ${caps.join(' ')}` : hc.Privileged ? 'privileged' : 'no capabilities'),
    check('no-new-privileges', nnp, nnp ? 'no-new-privileges set' : `security options: ${(hc.SecurityOpt ?? []).join(' ') || 'none'}`),
    check('non-root', nonRoot, `user ${user || '(image default: root)'}`),
    check('mounts', mountsOk, `mounts ${fmt(binds)}${extraTmpfs.length ? `; extra tmpfs ${extraTmpfs.join(' ')}` : ''} (expected ${fmt([...mounts])})`),
  ];
}

/** LimitCORE=0 in a unit file's text. Pure. */
export function unitLimitCoreCheck(unit: string, text: string | undefined): AuditCheck {
  if (text === undefined) return { id: `unit.${unit}.limit-core`, status: 'n/a', evidence: 'not installed' };
  const v = unitValues(parseUnit(text), 'Service', 'LimitCORE');
  const last = v.at(-1);
  return { id: `unit.${unit}.limit-core`, status: last === '0' ? 'pass' : 'fail', evidence: `LimitCORE=${last ?? '(unset)'}` };
}

/** The exposure number of a unit as an audit check; ≤ `max` passes. Pure. */
export function exposureCheck(unit: string, score: { score: number; verdict: string } | undefined, max: number): AuditCheck {
  if (!score) return { id: `unit.${unit}.exposure`, status: 'n/a', evidence: 'systemd-analyze security gave no score' };
  return { id: `unit.${unit}.exposure`, status: score.score <= max ? 'pass' : 'fail', evidence: `exposure ${score.score.toFixed(1)} ${score.verdict} (limit ${max})` };
}

/**
 * The highest `systemd-analyze security` exposure each unit Bulwark ships may have: just above what the unit
 * reaches today on Debian 12 (systemd 252; systemd 257 on Debian 13 scores each 0.2 lower), so losing any of
 * its sandboxing fails `bulwark audit`. test/unit/containers/exposure.test.ts keeps every limit within 0.3 of
 * the unit's score. What keeps each from going lower:
 * - router, app@ (podman; 4.9, 4.7): podman, conmon and crun run as root to build the container and need
 *   mounts, most namespaces, sethostname(), a writable cgroup tree (so neither ProtectControlGroups= nor
 *   ProtectKernelTunables=, which makes all of /sys read-only) and a dozen capabilities (SYS_ADMIN among them);
 *   their seccomp filter also binds the container's node, whose JIT needs W+X memory; podman 5.4 (Debian 13)
 *   sets set-group-ID bits while preparing a container (no RestrictSUIDSGID=), and its crun brings up the
 *   container's loopback with an AF_INET socket (AF_INET allowed; PrivateNetwork= leaves nothing to reach). The router's listeners
 *   come from systemd and its container has no network, but podman's root user and SYS_ADMIN stay; the router
 *   also keeps AF_INET for the fabric's loopback bridge to the NATS socket (0.2 of its score).
 * - app-docker@ (0.9): the docker client only talks to dockerd over its socket; what is left is AF_UNIX.
 * - agent (6.5): it administers the host: root with nearly every capability, write access to /etc, /proc/sys
 *   and the cgroup tree, network and netlink, modules, and podman to build the router image.
 * - wireguard-go@ (2.2): root for CAP_NET_ADMIN on its tun interface, and its UDP socket must reach the peers
 *   (no PrivateNetwork=, no IP allow list).
 */
export const EXPOSURE_LIMITS: Record<string, number> = {
  'bulwark-router.service': 5.1,
  'bulwark-app@.service': 4.9,
  'bulwark-app-docker@.service': 1.1,
  'bulwark-agent.service': 6.7,
  'bulwark-wireguard-go@.service': 2.4,
};

/** Units bootstrap installs (the others in EXPOSURE_LIMITS are this capability's). */
const BOOTSTRAP_UNITS = new Set(['bulwark-agent.service', 'bulwark-wireguard-go@.service']);

async function inspect(runtime: 'podman' | 'docker', name: string): Promise<ContainerInspect | undefined> {
  const r = await run([runtime, 'inspect', '--type', 'container', name], { timeoutMs: 30_000 }).catch(() => undefined);
  if (r?.code !== 0) return undefined;
  return parseInspect(r.stdout)[0];
}

export const containersAudit: AuditProvider<Config> = {
  name: 'containers',
  async run() {
    const checks: AuditCheck[] = [];
    const routerC = await inspect('podman', ROUTER_CONTAINER);
    if (routerC) checks.push(...evaluateContainer('router', routerC, routerMounts()));
    else checks.push({ id: 'container.router.running', status: existsSync('/etc/systemd/system/bulwark-router.service') ? 'fail' : 'n/a', evidence: 'container bulwark-router not found' });
    for (const app of listAppSpecs()) {
      const c = await inspect(app.runtime, appContainerName(app.name));
      if (c) checks.push(...evaluateContainer(`app-${app.name}`, c, appMounts(app.name)));
      else checks.push({ id: `container.app-${app.name}.running`, status: 'fail', evidence: `container ${appContainerName(app.name)} not found (${app.runtime})` });
    }
    const units = Object.keys(EXPOSURE_LIMITS);
    const read = (u: string) => (existsSync(`/etc/systemd/system/${u}`) ? readFileSync(`/etc/systemd/system/${u}`, 'utf8') : undefined);
    // the agent's and wireguard-go's units come with bootstrap, not with this capability: checked where installed
    for (const u of units) if (read(u) !== undefined || !BOOTSTRAP_UNITS.has(u)) checks.push(unitLimitCoreCheck(u, read(u)));
    // Offline scoring reads the installed unit files; it needs no running manager.
    const installed = units.filter((u) => read(u) !== undefined).map((u) => u.replace('@.', '@audit.'));
    const scores = installed.length ? await securityExposure(installed, '/').catch(() => new Map<string, { score: number; verdict: string }>()) : new Map<string, { score: number; verdict: string }>();
    for (const u of units) {
      if (read(u) === undefined) continue;
      checks.push(exposureCheck(u, scores.get(u.replace('@.', '@audit.')), EXPOSURE_LIMITS[u] ?? 5));
    }
    return checks;
  },
};
