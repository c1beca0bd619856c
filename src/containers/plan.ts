import { ROUTER_METRICS_DIR } from '../router/metrics-paths.js';
import { APP_SOCKET_NAME, COMPONENTS_DIR, ROUTER_FABRIC_DIR } from './argv.js';
import type { AppSpec } from './schema.js';
import { renderEnvFile } from '../systemd/units.js';

/**
 * What a node's files say about its apps (pure): the per-app EnvironmentFile= the template unit reads,
 * the tmpfiles.d lines that (re)create every component socket directory with its owner and mode (also
 * after a reboot, /run being a tmpfs), and the router's view of the components.
 */
export const APP_ENV_DIR = '/etc/bulwark/apps';
export const TMPFILES_CONF = '/etc/tmpfiles.d/bulwark-components.conf';
/** Read by the router (mounted read-only at /etc/bulwark): one Unix listener + identity per app. */
export const ROUTER_COMPONENTS_FILE = '/etc/bulwark/router-components.json';

export const appUnit = (a: Pick<AppSpec, 'name' | 'runtime'>): string => (a.runtime === 'docker' ? `bulwark-app-docker@${a.name}.service` : `bulwark-app@${a.name}.service`);
export const appSocketDir = (name: string): string => `${COMPONENTS_DIR}/${name}`;
export const appSocketPath = (name: string): string => `${appSocketDir(name)}/${APP_SOCKET_NAME}`;

export function appEnvFile(a: AppSpec): string {
  return renderEnvFile(
    {
      BULWARK_APP_IMAGE: a.image,
      BULWARK_APP_UID: a.uid,
      BULWARK_APP_MEMORY: a.memory,
      BULWARK_APP_CPUS: a.cpus,
      BULWARK_APP_PIDS: a.pids,
      BULWARK_APP_REALM: a.realm,
    },
    `Written by \`bulwark app add ${a.name}\`; read by ${appUnit(a)}.`,
  );
}

/**
 * The component directories: /run/bulwark/components is root:router 0750 (the router traverses, nobody
 * else); each app's directory is APPUID:router 0770, so that app (through its bind mount) and the router
 * can reach the socket and no other uid can. `.router` (router:router 0700) holds the router's metrics
 * socket, which the agent reads (no app mounts it; app names start with a letter). Pure.
 */
export function tmpfilesConf(apps: readonly AppSpec[], routerGid: number): string {
  const lines = [
    '# Written by bulwark: component socket directories (see bulwark-app@.service).',
    `d ${COMPONENTS_DIR} 0750 root ${routerGid} -`,
    `d ${ROUTER_METRICS_DIR} 0700 ${routerGid} ${routerGid} -`,
    // the fabric's client socket (src/fabric) appears here on clusters of two or more; mounted into the router either way
    `d ${ROUTER_FABRIC_DIR} 0750 root ${routerGid} -`,
  ];
  for (const a of [...apps].sort((x, y) => x.name.localeCompare(y.name))) lines.push(`d ${appSocketDir(a.name)} 0770 ${a.uid} ${routerGid} -`);
  return lines.join('\n') + '\n';
}

export interface RouterComponents {
  components: { name: string; realm: string; role: string }[];
  listeners: { type: 'rawsocket'; path: string; component: string; mode: string; serializers: ('json' | 'msgpack' | 'cbor')[] }[];
}

/**
 * The router's components and their Unix listeners. Socket mode 0666 is deliberate: the directory
 * (0770 APPUID:router) is what keeps other uids out; the app's uid is not in the router's group. Pure.
 */
export function routerComponents(apps: readonly AppSpec[]): RouterComponents {
  const sorted = [...apps].sort((x, y) => x.name.localeCompare(y.name));
  return {
    components: sorted.map((a) => ({ name: a.name, realm: a.realm, role: a.role })),
    listeners: sorted.map((a) => ({ type: 'rawsocket', path: appSocketPath(a.name), component: a.name, mode: '0666', serializers: ['cbor', 'msgpack', 'json'] })),
  };
}

/** Human-readable memory limits podman/docker accept, parsed to bytes (for checks and list output). Pure. */
export function memoryBytes(m: string): number {
  const r = /^([1-9][0-9]*)([kmg])$/.exec(m);
  if (!r) throw new Error(`bad memory size ${m}`);
  return Number(r[1]) * { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[r[2] as 'k' | 'm' | 'g'];
}
