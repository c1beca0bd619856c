/**
 * Argument lists for app and router containers (pure). The same builders produce the ExecStart= lines
 * of the unit files in units/ (called with systemd specifiers and ${VARIABLES} instead of values; a unit
 * test keeps the files and these builders identical) and the concrete argv the tests run.
 *
 * Every string is one argument: values are never split or interpreted by a shell.
 */

import { ENROLMENTS_DIR, FABRIC_SOCKET_DIR, PRINCIPALS_DIR } from '../config/locate.js';

/** Where a component's socket directory appears inside its app container. */
export const APP_SOCKET_MOUNT = '/run/wamp';
export const APP_SOCKET_NAME = 'router.sock';
export const COMPONENTS_DIR = '/run/bulwark/components';

export const appContainerName = (name: string): string => `bulwark-app-${name}`;
export const ROUTER_CONTAINER = 'bulwark-router';

export interface AppRunParams {
  /** App name (or "%i" in the template unit). */
  name: string;
  image: string;
  /** uid:gid the component runs as; never 0. */
  uid: string;
  memory: string;
  cpus: string;
  pids: string;
  realm: string;
  /** Host directory bind-mounted at /run/wamp (default /run/bulwark/components/NAME). */
  socketDir?: string;
  /**
   * Extra arguments inserted before the image, e.g. "$BULWARK_PODMAN_CGROUPS" in units (systemd
   * splits an unbraced $VAR into zero or more words) or test-only flags.
   */
  extra?: readonly string[];
}

/** Size of the private /tmp every container gets (RAM, noexec): the root itself stays read-only. */
export const TMPFS_TMP = '/tmp:rw,nosuid,nodev,noexec,size=16m,mode=1777';

/** The isolation flags shared by podman and docker, in a fixed order (audited by src/containers/audit.ts). */
function isolation(user: string): string[] {
  return ['--network', 'none', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--user', user];
}

function limits(p: Pick<AppRunParams, 'memory' | 'cpus' | 'pids'>): string[] {
  // --memory-swap equal to --memory: no swap on top of the limit.
  return ['--memory', p.memory, '--memory-swap', p.memory, '--cpus', p.cpus, '--pids-limit', p.pids];
}

function wampEnv(realm: string): string[] {
  return ['--env', `BULWARK_WAMP_SOCKET=${APP_SOCKET_MOUNT}/${APP_SOCKET_NAME}`, '--env', `BULWARK_WAMP_REALM=${realm}`];
}

/**
 * `podman run` for an app, the `podman generate systemd --new` pattern: detached with --sdnotify=conmon
 * (the unit is Type=notify and conmon becomes its main process), --replace removes a stale container of
 * the same name, --rm removes it on exit, logs pass straight to the unit's journal stream.
 */
export function podmanAppArgv(p: AppRunParams, podman = '/usr/bin/podman'): string[] {
  const dir = p.socketDir ?? `${COMPONENTS_DIR}/${p.name}`;
  // biome-ignore format: each option beside its value
  return [
    podman, 'run', '--rm', '--replace', '--detach', '--sdnotify=conmon',
    '--name', appContainerName(p.name), '--label', `bulwark.app=${p.name}`,
    '--pull', 'never', '--log-driver', 'passthrough',
    ...isolation(p.uid),
    '--read-only-tmpfs=false', '--tmpfs', TMPFS_TMP,
    ...limits(p),
    '--volume', `${dir}:${APP_SOCKET_MOUNT}:rw,nosuid,nodev,noexec`,
    ...wampEnv(p.realm),
    ...(p.extra ?? []),
    p.image,
  ];
}

/**
 * `docker run` for an app: Docker has no sd_notify and no passthrough, so the unit runs it in the
 * foreground (Type=simple) with --rm, logs go to journald through Docker's driver, a stale container
 * is removed by ExecStartPre= and ExecStop= runs `docker stop`.
 */
export function dockerAppArgv(p: AppRunParams, docker = '/usr/bin/docker'): string[] {
  const dir = p.socketDir ?? `${COMPONENTS_DIR}/${p.name}`;
  // biome-ignore format: each option beside its value
  return [
    docker, 'run', '--rm',
    '--name', appContainerName(p.name), '--label', `bulwark.app=${p.name}`,
    '--pull', 'never', '--log-driver', 'journald', '--log-opt', `tag=${appContainerName(p.name)}`,
    ...isolation(p.uid),
    '--tmpfs', TMPFS_TMP,
    ...limits(p),
    '--volume', `${dir}:${APP_SOCKET_MOUNT}:rw`,
    ...wampEnv(p.realm),
    ...(p.extra ?? []),
    p.image,
  ];
}

export const dockerStalePreArgv = (name: string, docker = '/usr/bin/docker'): string[] => [docker, 'rm', '--force', appContainerName(name)];
export const dockerStopArgv = (name: string, docker = '/usr/bin/docker'): string[] => [docker, 'stop', '--time', '10', appContainerName(name)];
export const podmanStopArgv = (container: string, podman = '/usr/bin/podman'): string[] => [podman, 'stop', '--ignore', '--time', '10', container];
export const podmanRmArgv = (container: string, podman = '/usr/bin/podman'): string[] => [podman, 'rm', '--force', '--ignore', '--time', '10', container];

export interface RouterRunParams {
  image: string;
  /** uid:gid of the router (its gid owns every component socket directory). */
  user: string;
  memory: string;
  pids: string;
  /** Arguments after the image (the image's entrypoint is the bulwark runtime). */
  command: readonly string[];
  extra?: readonly string[];
  /** Host-side sources of the three mounts (tests use their own; the container sees the product paths). */
  hostPaths?: { components?: string; etc?: string; state?: string; principals?: string; enrolments?: string; fabric?: string };
}

/** State the router reads: its TLS key and certificate, made at bootstrap, owned by the router's uid. */
export const ROUTER_STATE_DIR = '/var/lib/bulwark/router';
/** The principals store (root:router 0750, written by `bulwark principal`), read-only in the router. */
export const ROUTER_PRINCIPALS_DIR = PRINCIPALS_DIR;
/** The router's only writable state: activation codes it took (router:router 0700). */
export const ROUTER_ENROLMENTS_DIR = ENROLMENTS_DIR;
/** The cluster fabric's client socket directory (src/fabric): nats.sock reaches the local nats-server; read-only (connecting needs no write). */
export const ROUTER_FABRIC_DIR = FABRIC_SOCKET_DIR;

/**
 * `podman run` for the router. The listening sockets for 443/80 come from systemd socket activation:
 * podman hands every inherited $LISTEN_FDS descriptor to the container and sets LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID=1 inside it (podman >= 3.4), so the router finds them by name with
 * listenFdsByName() and needs no network of its own. It creates the component sockets itself in the
 * shared components directory, so adding an app needs a reload, not a restart.
 */
export function podmanRouterArgv(p: RouterRunParams, podman = '/usr/bin/podman'): string[] {
  // biome-ignore format: each option beside its value
  return [
    podman, 'run', '--rm', '--replace', '--detach', '--sdnotify=conmon',
    '--name', ROUTER_CONTAINER, '--label', 'bulwark.router=1',
    '--pull', 'never', '--log-driver', 'passthrough',
    ...isolation(p.user),
    '--read-only-tmpfs=false', '--tmpfs', TMPFS_TMP,
    '--memory', p.memory, '--memory-swap', p.memory, '--pids-limit', p.pids,
    '--volume', `${p.hostPaths?.components ?? COMPONENTS_DIR}:${COMPONENTS_DIR}:rw,nosuid,nodev,noexec`,
    '--volume', `${p.hostPaths?.etc ?? '/etc/bulwark'}:/etc/bulwark:ro,nosuid,nodev,noexec`,
    '--volume', `${p.hostPaths?.state ?? ROUTER_STATE_DIR}:${ROUTER_STATE_DIR}:ro,nosuid,nodev,noexec`,
    '--volume', `${p.hostPaths?.principals ?? ROUTER_PRINCIPALS_DIR}:${ROUTER_PRINCIPALS_DIR}:ro,nosuid,nodev,noexec`,
    '--volume', `${p.hostPaths?.enrolments ?? ROUTER_ENROLMENTS_DIR}:${ROUTER_ENROLMENTS_DIR}:rw,nosuid,nodev,noexec`,
    '--volume', `${p.hostPaths?.fabric ?? ROUTER_FABRIC_DIR}:${ROUTER_FABRIC_DIR}:ro,nosuid,nodev,noexec`,
    ...(p.extra ?? []),
    p.image,
    ...p.command,
  ];
}

/**
 * Quotes an argv for a unit's Exec*= line: plain words stay bare (so `$VAR` still splits and specifiers
 * still expand), anything with spaces, quotes or backslashes is double-quoted with C escapes.
 */
export function execLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./${}-]+$/.test(a) ? a : `"${a.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(' ');
}
