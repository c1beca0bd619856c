import { FABRIC_ETC_DIR, FABRIC_ROUTER_SECTION, FABRIC_ROUTES_FILE, FABRIC_SOCKET_DIR, FABRIC_STATE_DIR } from '../config/locate.js';

/** Where the fabric's files live on a node (tests pass their own). */
export interface FabricPaths {
  /** Router-readable: its `fabric:` section and its nkey seed (root dir 0755; seed router-owned 0400). */
  etcDir: string;
  routerSection: string;
  routerSeed: string;
  /** The agent's fabric state (root 0700, inside /var/lib/bulwark): the route key (0600, handed to nats-server as a credential), peers' certificates, the route list. */
  stateDir: string;
  /**
   * What nats-server itself reads (root:nats 0750): its config, this node's route certificate and the pinned bundle.
   * Outside /var/lib/bulwark, which is root-only (0700) and so not traversable by the nats user.
   */
  natsDir: string;
  natsConf: string;
  routeCert: string;
  routeKey: string;
  /** Every member's route certificate, this node's included: the only CA nats-server trusts for routes. */
  peersBundle: string;
  peersDir: string;
  routesFile: string;
  /** JetStream's store (the unit's StateDirectory=, owned by the nats user, 0700). */
  jetstreamDir: string;
  socketDir: string;
  socket: string;
  /** The key as nats-server sees it: the credential systemd hands the unit (LoadCredential=). */
  routeKeyForServer: string;
  unitDir: string;
}

export const NATS_UNIT = 'bulwark-nats.service';
export const PROXY_SOCKET_UNIT = 'bulwark-nats-proxy.socket';
export const PROXY_SERVICE_UNIT = 'bulwark-nats-proxy.service';
/** Debian's own unit (enabled by the package on install, no authentication): Bulwark masks it. */
export const DEBIAN_NATS_UNIT = 'nats-server.service';

/** nats-server's directory: root:nats 0750 (config, certificates), JetStream's store below it. */
export const NATS_DIR = '/var/lib/bulwark-nats';

export function nodePaths(): FabricPaths {
  return {
    etcDir: FABRIC_ETC_DIR,
    routerSection: FABRIC_ROUTER_SECTION,
    routerSeed: `${FABRIC_ETC_DIR}/router.nk`,
    stateDir: FABRIC_STATE_DIR,
    natsDir: NATS_DIR,
    natsConf: `${NATS_DIR}/nats.conf`,
    routeCert: `${NATS_DIR}/route.crt`,
    routeKey: `${FABRIC_STATE_DIR}/route.key`,
    peersBundle: `${NATS_DIR}/peers.pem`,
    peersDir: `${FABRIC_STATE_DIR}/peers`,
    routesFile: FABRIC_ROUTES_FILE,
    jetstreamDir: `${NATS_DIR}/jetstream`,
    socketDir: FABRIC_SOCKET_DIR,
    socket: `${FABRIC_SOCKET_DIR}/nats.sock`,
    routeKeyForServer: `/run/credentials/${NATS_UNIT}/route.key`,
    unitDir: '/etc/systemd/system',
  };
}
