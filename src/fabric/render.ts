import { NATS_CLIENT_PORT, type FabricConfig } from './schema.js';

/** What a NATS client user may publish and subscribe to: the router's subjects, its reply inboxes, JetStream's API and KV. */
export const ROUTER_SUBJECTS = ['bulwark.>', '_INBOX.>', '$JS.>', '$KV.>'] as const;

/**
 * JetStream API subjects the router never needs, denied even inside `$JS.>`: account purge, server removal and
 * stream moves lacked their own access checks before nats-server 2.10.27 (CVE-2025-30215), and a restore could
 * target another stream before 2.11.15 (CVE-2026-33222); Debian's 2.9.10 has both.
 */
export const ROUTER_PUBLISH_DENY = ['$JS.API.ACCOUNT.PURGE.>', '$JS.API.SERVER.REMOVE', '$JS.API.ACCOUNT.STREAM.MOVE.>', '$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.>', '$JS.API.STREAM.RESTORE.>'] as const;

export interface NatsUser {
  /** The user's nkey public key (U...); its seed stays on the node, 0600. */
  nkey: string;
  publish: readonly string[];
  subscribe: readonly string[];
  /** Subjects denied for publishing although `publish` allows them. */
  publishDeny?: readonly string[];
}

export interface NatsConfigInput {
  serverName: string;
  clusterName: string;
  /** 0: no monitoring endpoint. Always on 127.0.0.1. */
  monitorPort: number;
  routeHost: string;
  routePort: number;
  /** The other members' mesh addresses. */
  routes: readonly string[];
  tls: { cert: string; key: string; ca: string };
  users: readonly NatsUser[];
  jetstream: { storeDir: string; maxMemoryStore: number; maxFileStore: number };
  /** Tests only: another client port than 4222 (several servers in one namespace). */
  clientPort?: number;
}

const NKEY_USER = /^U[A-Z2-7]{55}$/;
const SAFE = /^[A-Za-z0-9._:/>$*@+-]+$/;

/** A nats.conf string: only characters that need no escaping are accepted, so nothing can break out of it. */
function q(s: string): string {
  if (!SAFE.test(s)) throw new Error(`unsafe value for nats.conf: ${JSON.stringify(s)}`);
  return `"${s}"`;
}
const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`;

/**
 * nats-server's configuration (2.9 syntax). Pure. Clients: 127.0.0.1 only, every one an nkey user (no
 * no_auth_user, no anonymous access, no accounts); routes: the mesh address only, mutual TLS against the
 * members' pinned certificates (verify: true); JetStream under the store dir; monitoring on 127.0.0.1 only.
 * No leafnodes, gateways, websocket or MQTT listeners.
 */
export function renderNatsConfig(c: NatsConfigInput): string {
  if (c.users.length === 0) throw new Error('nats.conf needs at least one nkey user');
  for (const u of c.users) if (!NKEY_USER.test(u.nkey)) throw new Error(`not an nkey user public key: ${u.nkey.slice(0, 8)}…`);
  const port = c.clientPort ?? NATS_CLIENT_PORT;
  const lines = [
    '# Rendered by bulwark (src/fabric/render.ts); the agent rewrites it. Clients on 127.0.0.1 only, routes',
    "# on the mesh address only with mutual TLS against the cluster members' pinned certificates.",
    `server_name: ${q(c.serverName)}`,
    `listen: ${q(`127.0.0.1:${port}`)}`,
    ...(c.monitorPort ? [`http: ${q(`127.0.0.1:${c.monitorPort}`)}`] : []),
    'max_connections: 1024',
    'authorization {',
    '  users: [',
    ...c.users.map(
      (u) =>
        `    { nkey: ${q(u.nkey)}, permissions: { publish: { allow: ${list(u.publish)}${u.publishDeny?.length ? `, deny: ${list(u.publishDeny)}` : ''} }, subscribe: { allow: ${list(u.subscribe)} } } }`,
    ),
    '  ]',
    '}',
    'cluster {',
    `  name: ${q(c.clusterName)}`,
    `  listen: ${q(`${c.routeHost}:${c.routePort}`)}`,
    '  no_advertise: true',
    '  tls {',
    `    cert_file: ${q(c.tls.cert)}`,
    `    key_file: ${q(c.tls.key)}`,
    `    ca_file: ${q(c.tls.ca)}`,
    '    verify: true',
    '    timeout: 5',
    '  }',
    `  routes: ${list([...c.routes].sort().map((a) => `nats-route://${a}:${c.routePort}`))}`,
    '}',
    'jetstream {',
    `  store_dir: ${q(c.jetstream.storeDir)}`,
    `  max_memory_store: ${Math.floor(c.jetstream.maxMemoryStore)}`,
    `  max_file_store: ${Math.floor(c.jetstream.maxFileStore)}`,
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** The router's `fabric:` section (FABRIC-CONTRACT.md), as the router reads it. Pure. */
export interface RouterFabricSection {
  node: string;
  nats: { url: string; socket: string; nkeySeedFile: string };
  heartbeatMs: number;
  deadAfterMs: number;
}

export function routerFabricSection(node: string, f: Pick<FabricConfig, 'heartbeatMs' | 'deadAfterMs'>, socket: string, seedFile: string): RouterFabricSection {
  return { node, nats: { url: `nats://127.0.0.1:${NATS_CLIENT_PORT}`, socket, nkeySeedFile: seedFile }, heartbeatMs: f.heartbeatMs, deadAfterMs: f.deadAfterMs };
}

/** Sandboxing shared by the fabric's units (systemd-analyze security counts each). */
const SANDBOX = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'PrivateDevices=yes',
  'DevicePolicy=closed',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'ProtectProc=invisible',
  'ProcSubset=pid',
  'RestrictNamespaces=yes',
  'RestrictRealtime=yes',
  'RestrictSUIDSGID=yes',
  'LockPersonality=yes',
  'MemoryDenyWriteExecute=yes',
  'PrivateMounts=yes',
  'RemoveIPC=yes',
  'KeyringMode=private',
  'SystemCallArchitectures=native',
  'SystemCallFilter=@system-service',
  'SystemCallFilter=~@privileged @resources',
  'SystemCallErrorNumber=EPERM',
  'CapabilityBoundingSet=',
  'AmbientCapabilities=',
  'UMask=0077',
  'LimitCORE=0',
];

export interface NatsUnitInput {
  natsServer: string;
  confPath: string;
  routeKey: string;
  /** StateDirectory= relative to /var/lib (JetStream's store). */
  stateDirectory: string;
  meshCidr: string;
}

/**
 * bulwark-nats.service: nats-server as Debian's `nats` system user, read-only system, no capabilities, only
 * loopback and the mesh reachable (IPAddressAllow=), the route key handed in as a credential (root 0600 on
 * disk, never readable by the nats user's other processes). Reload = SIGHUP (nats-server re-reads its config). Pure.
 */
export function renderNatsUnit(u: NatsUnitInput): string {
  return [
    "# Rendered by bulwark (src/fabric/render.ts). The fabric between the nodes' WAMP routers.",
    '[Unit]',
    'Description=Bulwark fabric: NATS server (clients on 127.0.0.1, routes over the mesh)',
    'After=network-online.target',
    'Wants=network-online.target',
    `ConditionPathExists=${u.confPath}`,
    'StartLimitIntervalSec=60',
    'StartLimitBurst=30',
    '',
    '[Service]',
    'Type=simple',
    'User=nats',
    'Group=nats',
    `ExecStart=${u.natsServer} -c ${u.confPath}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillSignal=SIGINT',
    'Restart=always',
    'RestartSec=2s',
    'TimeoutStopSec=20',
    `LoadCredential=route.key:${u.routeKey}`,
    `StateDirectory=${u.stateDirectory}`,
    'StateDirectoryMode=0700',
    'IPAddressDeny=any',
    'IPAddressAllow=localhost',
    `IPAddressAllow=${u.meshCidr}`,
    'RestrictAddressFamilies=AF_INET AF_INET6',
    'LimitNOFILE=65536',
    ...SANDBOX,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * bulwark-nats-proxy.socket: the Unix socket the router container reaches nats-server's client port through. Pure.
 * The socket is 0666 inside a directory only root and the router's group may enter (root:ROUTER 0750, made by
 * the agent and the components' tmpfiles.d): SocketGroup= would need a group entry, and the router's gid has none.
 */
export function renderProxySocket(socket: string): string {
  return [
    '# Rendered by bulwark (src/fabric/render.ts). The router container has no network: it reaches the local',
    '# nats-server client port through this socket, bind-mounted into it.',
    '[Unit]',
    'Description=Bulwark fabric: NATS client socket for the router',
    '',
    '[Socket]',
    `ListenStream=${socket}`,
    'SocketUser=root',
    'SocketGroup=root',
    'SocketMode=0666',
    'DirectoryMode=0750',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
}

/** bulwark-nats-proxy.service: systemd-socket-proxyd to 127.0.0.1:4222, as a dynamic user with nothing else. Pure. */
export function renderProxyService(proxyd = '/lib/systemd/systemd-socket-proxyd'): string {
  return [
    '# Rendered by bulwark (src/fabric/render.ts).',
    '[Unit]',
    'Description=Bulwark fabric: NATS client socket proxy',
    `Requires=bulwark-nats-proxy.socket ${'bulwark-nats.service'}`,
    'After=bulwark-nats-proxy.socket bulwark-nats.service',
    '',
    '[Service]',
    `ExecStart=${proxyd} 127.0.0.1:${NATS_CLIENT_PORT}`,
    'DynamicUser=yes',
    'PrivateNetwork=no',
    'IPAddressDeny=any',
    'IPAddressAllow=localhost',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    ...SANDBOX,
    '',
  ].join('\n');
}
