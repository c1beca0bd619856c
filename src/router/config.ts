import { z } from 'zod';

/**
 * `router:` section of bulwark.yaml (and the whole file `bulwark router --config` reads).
 * Defaults are the production values of the high-security setup (see src/router/README.md).
 */
const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** A realm or role name, or a WAMP URI component list (loose rules, no empty components). */
const REALM = /^([^\s.#]+\.)*[^\s.#]+$/;

export const METHODS = ['anonymous', 'ticket', 'wampcra', 'cryptosign'] as const;
export type AuthMethod = (typeof METHODS)[number];
export const SERIALIZER_IDS = ['json', 'msgpack', 'cbor'] as const;

const permissionSchema = z.strictObject({
  /** URI, prefix (match: prefix) or pattern with empty components (match: wildcard). */
  uri: z.string().regex(/^[^\s#]*$/, 'must be a URI (no spaces or #)'),
  match: z.enum(['exact', 'prefix', 'wildcard']).default('exact'),
  call: z.boolean().default(false),
  register: z.boolean().default(false),
  publish: z.boolean().default(false),
  subscribe: z.boolean().default(false),
  /** true: always disclose the caller/publisher to callees/subscribers; false: never; unset: when the client asks (disclose_me). */
  disclose: z.strictObject({ caller: z.boolean().optional(), publisher: z.boolean().optional() }).prefault({}),
});
export type Permission = z.infer<typeof permissionSchema>;

const roleSchema = z.strictObject({ name: z.string().regex(NAME), permissions: z.array(permissionSchema).default([]) });
/** Event retention (PUBLISH retain / SUBSCRIBE get_retained): the last retained event per topic, in memory. */
const retentionSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Topics with a retained event; past it the topic retained longest ago is forgotten. */
    maxTopics: z.number().int().min(1).max(1_000_000).default(1000),
    /** Payload bytes of all retained events together (same eviction). */
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(4 * 1024 * 1024),
  })
  .prefault({});

/** Event history: a ring of the last `limit` events per configured topic (wamp.topic.history.*). */
const historySchema = z
  .strictObject({
    topics: z
      .array(
        z.strictObject({
          /** A topic URI, or a prefix (match: prefix): each topic under it gets its own ring. */
          uri: z.string().regex(/^[^\s#]*$/, 'must be a URI (no spaces or #)'),
          match: z.enum(['exact', 'prefix']).default('exact'),
          limit: z.number().int().min(1).max(100_000).default(100),
        }),
      )
      .default([]),
    /** Topics with a ring (prefix entries can make many); past it the topic written longest ago is dropped. */
    maxTopics: z.number().int().min(1).max(1_000_000).default(1000),
    /** Payload bytes of all rings together; past it the realm's oldest events go first. */
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024),
  })
  .prefault({});

const realmSchema = z.strictObject({
  name: z.string().regex(REALM, 'must be a URI like com.example.app'),
  roles: z.array(roleSchema).default([]),
  retention: retentionSchema,
  history: historySchema,
});

const rateSchema = z.strictObject({
  /** HELLO messages per second per source address (tokens refilled per second). */
  perSecond: z.number().positive().default(10),
  burst: z.number().int().min(1).default(20),
});

const tlsSchema = z.strictObject({
  cert: z.string(),
  key: z.string(),
  /** Intermediate chain (PEM), sent after the certificate. */
  chain: z.string().optional(),
  /** DH parameters (PEM) for the DHE suites; without them only ECDHE suites are offered. */
  dhparam: z.string().optional(),
  ciphers: z.string().optional(),
  /** HSTS max-age in seconds sent on every HTTP response of this listener (0 = off). */
  hstsMaxAge: z.number().int().min(0).default(31536000),
});

const bindFields = {
  /** Take the socket from systemd (FileDescriptorName=) instead of binding. */
  fdName: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,255}$/)
    .optional(),
  host: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  /** Unix socket path. */
  path: z.string().optional(),
  /** File mode of a Unix socket we create (octal string). */
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/)
    .default('0660'),
};

const wampListenerFields = {
  ...bindFields,
  serializers: z.array(z.enum(SERIALIZER_IDS)).min(1).default(['json', 'msgpack', 'cbor']),
  /** Who connects here becomes this component (authid, role, realm forced). Unix sockets only. */
  component: z.string().regex(NAME).optional(),
  /** Authentication methods offered here (ignored when `component` is set). */
  auth: z.array(z.enum(METHODS)).default(['ticket', 'wampcra', 'cryptosign']),
  helloRate: rateSchema.prefault({}),
};

/**
 * Auto-ping of this listener's peers: true (the limits' interval and timeout), false, or its own
 * {intervalMs, timeoutMs}. Default: on for WebSocket, off for RawSocket (see src/router/README.md).
 */
const autoPingSchema = z.union([z.boolean(), z.strictObject({ intervalMs: z.number().int().min(100).optional(), timeoutMs: z.number().int().min(100).optional() })]);
const URL_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;
/** One URL path of a WebSocket listener with its own authentication methods and optional realm restriction. */
const wsPathSchema = z.strictObject({
  path: z.string().regex(URL_PATH, 'must be a URL path starting with /'),
  /** Methods offered on this path (default: the listener's `auth`). */
  auth: z.array(z.enum(METHODS)).optional(),
  /** Realms a session on this path may join (default: any). */
  realms: z.array(z.string().regex(REALM)).min(1).optional(),
});
export type WsPathConfig = z.infer<typeof wsPathSchema>;

const websocketListener = z.strictObject({
  type: z.literal('websocket'),
  ...wampListenerFields,
  tls: tlsSchema.optional(),
  /** The one URL path served (default /); or `paths` for several. */
  urlPath: z.string().regex(URL_PATH, 'must be a URL path starting with /').optional(),
  paths: z.array(wsPathSchema).min(1).optional(),
  autoPing: autoPingSchema.optional(),
  /** Answer ACME TLS-ALPN-01 validations (ALPN acme-tls/1) with the certificates the agent writes in this directory (needs tls). */
  acmeChallengeDir: z.string().regex(/^\//, 'must be an absolute path').optional(),
});
const rawsocketListener = z.strictObject({ type: z.literal('rawsocket'), ...wampListenerFields, autoPing: autoPingSchema.optional() });
const redirectListener = z.strictObject({
  type: z.literal('redirect'),
  ...bindFields,
  /** https origin to send to; default: https:// + the request's Host without port. */
  to: z
    .string()
    .regex(/^https:\/\/[^/\s]+$/)
    .optional(),
  /** Serve ACME HTTP-01 answers (/.well-known/acme-challenge/TOKEN) from this directory before redirecting. */
  acmeChallengeDir: z.string().regex(/^\//, 'must be an absolute path').optional(),
});

const listenerSchema = z.discriminatedUnion('type', [websocketListener, rawsocketListener, redirectListener]).superRefine((l, ctx) => {
  const ways = [l.fdName !== undefined, l.path !== undefined, l.port !== undefined].filter(Boolean).length;
  if (ways !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of fdName, path or port' });
  if (l.host !== undefined && l.port === undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'host needs port' });
  if (l.type !== 'redirect' && l.component !== undefined && l.port !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['component'], message: 'a component listener must be a Unix socket (path or fdName), never TCP' });
  }
  if (l.type === 'websocket' && l.acmeChallengeDir !== undefined && l.tls === undefined) {
    ctx.addIssue({ code: 'custom', path: ['acmeChallengeDir'], message: 'TLS-ALPN-01 answers need a TLS listener (add tls:)' });
  }
  if (l.type === 'websocket' && l.paths) {
    if (l.urlPath !== undefined) ctx.addIssue({ code: 'custom', path: ['urlPath'], message: 'give either urlPath or paths, not both' });
    const seen = new Set<string>();
    l.paths.forEach((p, i) => {
      if (seen.has(p.path)) ctx.addIssue({ code: 'custom', path: ['paths', i, 'path'], message: `duplicate path "${p.path}"` });
      seen.add(p.path);
    });
  }
});
export type ListenerConfig = z.infer<typeof listenerSchema>;
export type WampListenerConfig = Exclude<ListenerConfig, { type: 'redirect' }>;
export type WebSocketListenerConfig = Extract<ListenerConfig, { type: 'websocket' }>;

/** The URL paths a WebSocket listener serves: `paths`, or the one `urlPath` (default /) with the listener's auth. */
export function listenerPaths(l: WebSocketListenerConfig): WsPathConfig[] {
  return l.paths ?? [{ path: l.urlPath ?? '/', auth: l.auth }];
}

export interface AutoPing {
  intervalMs: number;
  timeoutMs: number;
}

/**
 * A listener's auto-ping, or undefined for none: the listener's `autoPing` if set, else on for
 * WebSocket and off for RawSocket; the interval and timeout default to the limits'. An interval of 0 is off.
 */
export function autoPingOf(l: WampListenerConfig, limits: RouterConfig['limits']): AutoPing | undefined {
  const setting = l.autoPing ?? l.type === 'websocket';
  if (setting === false) return undefined;
  const p = setting === true ? {} : setting;
  const intervalMs = p.intervalMs ?? limits.autoPingIntervalMs;
  return intervalMs > 0 ? { intervalMs, timeoutMs: p.timeoutMs ?? limits.autoPingTimeoutMs } : undefined;
}

const componentSchema = z.strictObject({
  name: z.string().regex(NAME),
  realm: z.string().regex(REALM),
  role: z.string().regex(NAME),
  /** Default: the component's name. */
  authid: z.string().min(1).optional(),
});

const principal = { authid: z.string().min(1).max(255), realm: z.string().regex(REALM), role: z.string().regex(NAME) };
const authSchema = z
  .strictObject({
    /** Role (per realm) of anonymous sessions on listeners that offer `anonymous`. */
    anonymous: z.strictObject({ role: z.string().regex(NAME), realms: z.array(z.string().regex(REALM)).optional() }).optional(),
    /** Tickets stored as "scrypt$N$r$p$salt_b64$hash_b64" (see `hashTicket`). */
    ticket: z.array(z.strictObject({ ...principal, hash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'must be a scrypt$... hash') })).default([]),
    /** WAMP-CRA with salted secrets: we keep only the PBKDF2-derived key (base64), never the secret. */
    wampcra: z
      .array(z.strictObject({ ...principal, salt: z.string().min(8), iterations: z.number().int().min(1000), keylen: z.number().int().min(16).max(64), derivedKey: z.string().min(16) }))
      .default([]),
    /** Ed25519 public keys (hex) allowed for each authid. */
    cryptosign: z.array(z.strictObject({ ...principal, pubkeys: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex chars')).min(1) })).default([]),
  })
  .prefault({});

/**
 * Principals kept in a store file beside the config (`bulwark principal ...`, see src/principals). On a
 * node the router uses /var/lib/bulwark/principals/principals.json and /var/lib/bulwark/enrolments unless
 * these say otherwise; `bulwark router --config FILE` uses a store only when `store` is set.
 */
const principalsSchema = z
  .strictObject({
    /** The store file (read-only to the router; re-read on SIGHUP). */
    store: z.string().optional(),
    /** Directory where the router records used activation codes (writable by the router). */
    enrolments: z.string().optional(),
    /** A client that presents a valid activation code is let in at once on the node it used (default: it waits for `principal approve`). */
    autoApprove: z.boolean().default(false),
    /** Activation code attempts per source address (token bucket: refilled per second, burst). */
    codeAttempts: z.strictObject({ perSecond: z.number().positive().default(0.1), burst: z.number().int().min(1).default(5) }).prefault({}),
    /** How long old and new credentials both work after `principal rotate` (default 24 h). */
    rotationOverlapSeconds: z.number().int().min(0).default(86_400),
    /** How long an activation code from `principal enroll` is valid (default 15 min). */
    codeTtlSeconds: z.number().int().min(10).default(900),
    /** `bulwark audit` flags a principal whose newest credential is older than this (0: never). */
    maxCredentialAgeDays: z.number().min(0).default(90),
  })
  .prefault({});

const limitsSchema = z
  .strictObject({
    maxMessageSize: z
      .number()
      .int()
      .min(512)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    autoFragmentSize: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024),
    openHandshakeTimeoutMs: z.number().int().min(100).default(2500),
    closeHandshakeTimeoutMs: z.number().int().min(100).default(1000),
    autoPingIntervalMs: z.number().int().min(0).default(10_000),
    autoPingTimeoutMs: z.number().int().min(100).default(5000),
    /** HELLO → WELCOME/ABORT must finish within this (authentication included). */
    sessionOpenTimeoutMs: z.number().int().min(100).default(10_000),
    /** Outbound bytes queued for one connection before it is cut off as a slow consumer. */
    maxOutboundQueueBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .default(4 * 1024 * 1024),
    maxSessions: z.number().int().min(1).default(20_000),
    /** Unanswered calls per caller session. */
    maxPendingCallsPerSession: z.number().int().min(1).default(1000),
    /** Testaments (wamp.session.add_testament) one session may hold, and their encoded bytes in all. */
    maxTestamentsPerSession: z.number().int().min(0).default(16),
    maxTestamentBytesPerSession: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024),
    compression: z.strictObject({ enabled: z.boolean().default(true), windowBits: z.number().int().min(9).max(15).default(13), memLevel: z.number().int().min(1).max(9).default(5) }).prefault({}),
  })
  .prefault({});

/** One node of a cluster of routers over NATS (src/router/fabric/); absent: a one-node router, no NATS. */
const fabricSchema = z
  .strictObject({
    /** This node's name, unique in the cluster. */
    node: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a node name like n1 (a-z, 0-9, -)'),
    nats: z
      .strictObject({
        /** The local nats-server's client port. */
        url: z
          .string()
          .regex(/^nats:\/\/[^\s]+$/, 'must be a nats:// URL')
          .default('nats://127.0.0.1:4222'),
        /** Reach the client port through this Unix socket instead (the router container has no network). */
        socket: z.string().startsWith('/', 'must be an absolute path').optional(),
        /** The router's NATS user nkey seed (mode 0600). */
        nkeySeedFile: z.string().startsWith('/', 'must be an absolute path').optional(),
      })
      .prefault({}),
    heartbeatMs: z.number().int().min(20).max(60_000).default(500),
    /** A node unheard this long is dead: its sessions, registrations and subscriptions go. */
    deadAfterMs: z.number().int().min(100).max(600_000).default(2000),
  })
  .refine((f) => f.deadAfterMs >= 2 * f.heartbeatMs, { message: 'deadAfterMs must be at least twice heartbeatMs', path: ['deadAfterMs'] });
export type FabricConfig = z.infer<typeof fabricSchema>;

export const routerSchema = z
  .strictObject({
    realms: z.array(realmSchema).default([]),
    listeners: z.array(listenerSchema).default([]),
    components: z.array(componentSchema).default([]),
    auth: authSchema,
    principals: principalsSchema,
    /** The role allowed the session-killing meta procedures (wamp.session.kill*, wamp.session.list_by_authid). Unset: nobody. */
    admin: z.strictObject({ role: z.string().regex(NAME) }).optional(),
    limits: limitsSchema,
    fabric: fabricSchema.optional(),
  })
  .prefault({})
  .superRefine((cfg, ctx) => {
    const realms = new Map(cfg.realms.map((r) => [r.name, new Set(r.roles.map((x) => x.name))]));
    const roleOk = (realm: string, role: string, path: (string | number)[]) => {
      const roles = realms.get(realm);
      if (!roles) ctx.addIssue({ code: 'custom', path, message: `no realm "${realm}" in router.realms` });
      else if (!roles.has(role)) ctx.addIssue({ code: 'custom', path, message: `realm "${realm}" has no role "${role}"` });
    };
    const comps = new Set<string>();
    cfg.components.forEach((c, i) => {
      if (comps.has(c.name)) ctx.addIssue({ code: 'custom', path: ['components', i, 'name'], message: `duplicate component "${c.name}"` });
      comps.add(c.name);
      roleOk(c.realm, c.role, ['components', i, 'role']);
    });
    cfg.listeners.forEach((l, i) => {
      if (l.type !== 'redirect' && l.component !== undefined && !comps.has(l.component)) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'component'], message: `no component "${l.component}" in router.components` });
      }
      if (l.type === 'websocket') {
        l.paths?.forEach((p, j) => {
          p.realms?.forEach((r, k) => {
            if (!realms.has(r)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'paths', j, 'realms', k], message: `no realm "${r}" in router.realms` });
          });
        });
      }
    });
    for (const m of ['ticket', 'wampcra', 'cryptosign'] as const) {
      const seen = new Set<string>();
      cfg.auth[m].forEach((p, i) => {
        const key = `${p.realm}\u0000${p.authid}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['auth', m, i, 'authid'], message: `duplicate authid "${p.authid}" on realm ${p.realm}` });
        seen.add(key);
        roleOk(p.realm, p.role, ['auth', m, i, 'role']);
      });
    }
    const anon = cfg.auth.anonymous;
    if (anon) for (const r of anon.realms ?? cfg.realms.map((x) => x.name)) if (anon.realms) roleOk(r, anon.role, ['auth', 'anonymous', 'role']);
  });
export type RouterConfig = z.infer<typeof routerSchema>;
export type RouterConfigInput = z.input<typeof routerSchema>;
