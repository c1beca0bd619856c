import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where a node keeps the cluster config the CLI uploaded at bootstrap. */
export const NODE_CONFIG = '/etc/bulwark/bulwark.yaml';
/** Which node this is (written by bootstrap): { "name": "n1" }. */
export const NODE_IDENTITY = '/etc/bulwark/node.json';
export const AGENT_SOCKET = '/run/bulwark/agent.sock';

/** Config path: -c, then $BULWARK_CONFIG, then ./bulwark.yaml, then the node's own copy. */
export function locateConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; explicit: boolean } {
  if (explicit) return { path: explicit, explicit: true };
  if (env.BULWARK_CONFIG) return { path: env.BULWARK_CONFIG, explicit: true };
  if (existsSync('bulwark.yaml') || !existsSync(NODE_CONFIG)) return { path: 'bulwark.yaml', explicit: false };
  return { path: NODE_CONFIG, explicit: false };
}

/** The pinned host keys live beside the config file. */
export function knownHostsPath(configPath: string): string {
  return join(dirname(configPath), 'bulwark.known_hosts');
}

/** The mesh's state on a node; the firewall reads its member list (MEMBERS_FILE under it) for its peers. */
export const DEFAULT_MESH_ROOT = '/var/lib/bulwark/mesh';
/** The member list, under the mesh root. */
export const MEMBERS_FILE = 'members.json';
/** The template unit bootstrap installs for the mesh's wireguard-go (units/bulwark-wireguard-go@.service). */
export const WIREGUARD_GO_UNIT_FILE = '/etc/systemd/system/bulwark-wireguard-go@.service';

/** The principals store (`bulwark principal`): root:router 0750, read-only in the router container. */
export const PRINCIPALS_DIR = '/var/lib/bulwark/principals';
export const PRINCIPALS_FILE = `${PRINCIPALS_DIR}/principals.json`;
/** The router's only writable state: activation codes it took (router:router 0700). */
export const ENROLMENTS_DIR = '/var/lib/bulwark/enrolments';

/**
 * The cluster fabric's host side (src/fabric): what the router reads (its `fabric:` section and its NATS nkey
 * seed, under /etc/bulwark, mounted read-only in the router container), the directory of the Unix socket that
 * reaches nats-server's client port (bind-mounted into the router container), and the route list the firewall
 * opens the route port to (public: names and mesh addresses).
 */
export const FABRIC_ETC_DIR = '/etc/bulwark/fabric';
export const FABRIC_ROUTER_SECTION = `${FABRIC_ETC_DIR}/router.json`;
export const FABRIC_SOCKET_DIR = '/run/bulwark/fabric';
export const FABRIC_STATE_DIR = '/var/lib/bulwark/fabric';
export const FABRIC_ROUTES_FILE = `${FABRIC_STATE_DIR}/routes.json`;
