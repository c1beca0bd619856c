import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { autoPingOf, listenerPaths, routerSchema, type RouterConfigInput, type WampListenerConfig } from '../../../src/router/config.js';
import { parseConfigText } from '../../../src/config/load.js';
import type { Connection, Outgoing } from '../../../src/router/core/connection.js';
import { Router } from '../../../src/router/core/router.js';
import type { ListenerRuntime, Session } from '../../../src/router/core/session.js';
import { json } from '../../../src/router/wamp/serializers.js';
import { pathRuntimes } from '../../../src/router/transport/websocket.js';

// Message-level tests: a Router with in-memory connections that record what the router sends.

const HELLO_ROLES = { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } };
const WELCOME = 2,
  ABORT = 3,
  GOODBYE = 6,
  ERROR = 8,
  PUBLISH = 16,
  SUBSCRIBE = 32,
  SUBSCRIBED = 33,
  EVENT = 36,
  CALL = 48,
  RESULT = 50;

function config(limits: Record<string, unknown> = {}): RouterConfigInput {
  return {
    realms: [
      {
        name: 'app',
        roles: [
          {
            name: 'writer',
            permissions: [
              { uri: 'com.example.', match: 'prefix', publish: true, subscribe: true, disclose: { publisher: true } },
              { uri: 'wamp.session.', match: 'prefix', call: true },
            ],
          },
          {
            name: 'reader',
            permissions: [
              { uri: 'com.example.', match: 'prefix', subscribe: true },
              { uri: 'wamp.session.', match: 'prefix', call: true },
            ],
          },
        ],
      },
      { name: 'other', roles: [{ name: 'writer' }] },
    ],
    listeners: [{ type: 'websocket', port: 0, auth: ['anonymous'] }],
    auth: { anonymous: { role: 'writer' } },
    limits: { openHandshakeTimeoutMs: 150, closeHandshakeTimeoutMs: 150, ...limits },
  };
}

class Peer implements Connection {
  readonly serializer = json;
  readonly info = { type: 'websocket' as const, protocol: 'wamp.2.json', peer: 'tcp4:192.0.2.7:5555', source: '192.0.2.7', listener: 'l', tls: false };
  readonly got: unknown[][] = [];
  closes = 0;
  session!: Session;
  constructor(
    private readonly router: Router,
    listener: ListenerRuntime,
  ) {
    this.session = router.attach(this, listener);
  }
  send(out: Outgoing): void {
    // through the serializer, as a transport does
    this.got.push(json.decode(out.encode(json)) as unknown[]);
  }
  close(): void {
    this.closes++;
  }
  rebind(next: Session): void {
    this.session = next;
  }
  /** A message from the peer (through the serializer). */
  in(wire: unknown[]): void {
    this.session.receive(json.decodeMessage(json.encode(wire)));
  }
  /** The transport is gone. */
  lost(): void {
    this.router.detach(this.session);
  }
  take(): unknown[][] {
    return this.got.splice(0);
  }
}

/** Polls until `fn` holds (timers may fire late on a loaded host, never early). */
async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const routers: Router[] = [];
afterEach(() => {
  for (const r of routers.splice(0)) r.shutdown();
});

function setup(limits: Record<string, unknown> = {}, role = 'writer') {
  const input = config(limits) as { auth: { anonymous: { role: string } } };
  input.auth.anonymous.role = role;
  const cfg = routerSchema.parse(input);
  const router = new Router(cfg, pino({ level: 'silent' }));
  routers.push(router);
  const listener: ListenerRuntime = { name: 'l', cfg: cfg.listeners[0] as WampListenerConfig };
  const peer = () => new Peer(router, listener);
  const join = (p: Peer, realm = 'app'): number => {
    p.in([1, realm, HELLO_ROLES]);
    const [w] = p.take();
    expect(w?.[0]).toBe(WELCOME);
    return w![1] as number;
  };
  return { router, listener, peer, join, cfg };
}

describe('testaments (wamp.session.add_testament / flush_testaments)', () => {
  it('WELCOME announces testament_meta_api', () => {
    const { peer } = setup();
    const p = peer();
    p.in([1, 'app', HELLO_ROLES]);
    const [w] = p.take();
    expect((w![2] as { roles: { dealer: { features: Record<string, unknown> } } }).roles.dealer.features.testament_meta_api).toBe(true);
  });

  it('a role that may not publish to the topic is refused at add_testament', () => {
    const { peer, join } = setup({}, 'reader');
    const p = peer();
    join(p);
    p.in([CALL, 1, {}, 'wamp.session.add_testament', ['com.example.gone', ['x'], {}]]);
    expect(p.take()).toEqual([[ERROR, CALL, 1, {}, 'wamp.error.not_authorized', ['reader may not publish com.example.gone']]]);
    p.in([CALL, 2, {}, 'wamp.session.add_testament', ['wamp.session.on_leave', [], {}]]);
    expect(p.take()).toEqual([[ERROR, CALL, 2, {}, 'wamp.error.invalid_uri', ['the wamp. namespace is reserved to the router']]]);
  });

  it('checks scope and options, bounds count and bytes', () => {
    const { peer, join } = setup({ maxTestamentsPerSession: 2, maxTestamentBytesPerSession: 200 });
    const p = peer();
    join(p);
    p.in([CALL, 1, {}, 'wamp.session.add_testament', ['com.example.t', [], {}], { scope: 'forever' }]);
    expect(p.take()).toEqual([[ERROR, CALL, 1, {}, 'wamp.error.testament_error', ['scope must be destroyed or detached']]]);
    p.in([CALL, 2, {}, 'wamp.session.add_testament', ['com.example.t', [], {}], { publish_options: { exclude: 'me' } }]);
    expect(p.take()[0]!.slice(0, 5)).toEqual([ERROR, CALL, 2, {}, 'wamp.error.invalid_argument']);
    p.in([CALL, 3, {}, 'wamp.session.add_testament', ['com.example.t', ['x'.repeat(300)], {}]]);
    expect(p.take()[0]!.slice(0, 5)).toEqual([ERROR, CALL, 3, {}, 'wamp.error.testament_error']);
    for (const r of [4, 5]) {
      p.in([CALL, r, {}, 'wamp.session.add_testament', ['com.example.t', [r], {}]]);
      expect(p.take()[0]).toEqual([RESULT, r, {}, [expect.any(Number)]]);
    }
    p.in([CALL, 6, {}, 'wamp.session.add_testament', ['com.example.t', [6], {}]]);
    expect(p.take()).toEqual([[ERROR, CALL, 6, {}, 'wamp.error.testament_error', ['at most 2 testaments per session']]]);
  });

  it('flush returns the count flushed per scope; flushed testaments are not published', () => {
    const { peer, join } = setup();
    const sub = peer();
    join(sub);
    sub.in([SUBSCRIBE, 1, {}, 'com.example.t']);
    expect(sub.take()[0]![0]).toBe(SUBSCRIBED);
    const p = peer();
    join(p);
    p.in([CALL, 1, {}, 'wamp.session.add_testament', ['com.example.t', ['a'], {}]]);
    p.in([CALL, 2, {}, 'wamp.session.add_testament', ['com.example.t', ['b'], {}], { scope: 'destroyed' }]);
    p.in([CALL, 3, {}, 'wamp.session.add_testament', ['com.example.t', ['c'], {}], { scope: 'detached' }]);
    p.in([CALL, 4, {}, 'wamp.session.flush_testaments', []]);
    p.in([CALL, 5, {}, 'wamp.session.flush_testaments', [], { scope: 'destroyed' }]);
    p.in([CALL, 6, {}, 'wamp.session.flush_testaments', [], { scope: 'detached' }]);
    expect(p.take().slice(3)).toEqual([
      [RESULT, 4, {}, [2]],
      [RESULT, 5, {}, [0]],
      [RESULT, 6, {}, [1]],
    ]);
    p.lost();
    expect(sub.take()).toEqual([]);
  });

  it('is published once, detached before destroyed, with the publisher disclosed, when the transport is lost', () => {
    const { peer, join } = setup();
    const sub = peer();
    join(sub);
    sub.in([SUBSCRIBE, 1, { match: 'prefix' }, 'com.example.']);
    const subId = sub.take()[0]![2];
    const p = peer();
    const id = join(p);
    p.in([CALL, 1, {}, 'wamp.session.add_testament', ['com.example.gone', ['bye'], { k: 1 }]]);
    p.in([CALL, 2, {}, 'wamp.session.add_testament', ['com.example.first', [], {}], { scope: 'detached' }]);
    expect(p.take().map((m) => m[0])).toEqual([RESULT, RESULT]);
    expect(sub.take()).toEqual([]);
    p.lost();
    p.lost();
    const got = sub.take();
    expect(got).toEqual([
      [EVENT, subId, expect.any(Number), { publisher: id, publisher_authid: expect.stringMatching(/^anonymous-/), publisher_authrole: 'writer', topic: 'com.example.first' }],
      [EVENT, subId, expect.any(Number), { publisher: id, publisher_authid: expect.stringMatching(/^anonymous-/), publisher_authrole: 'writer', topic: 'com.example.gone' }, ['bye'], { k: 1 }],
    ]);
  });

  it('is published when the session says GOODBYE, and not again when the transport closes later', () => {
    const { peer, join } = setup();
    const sub = peer();
    join(sub);
    sub.in([SUBSCRIBE, 1, {}, 'com.example.gone']);
    sub.take();
    const p = peer();
    join(p);
    p.in([CALL, 1, {}, 'wamp.session.add_testament', ['com.example.gone', [1], {}]]);
    p.take();
    p.in([GOODBYE, {}, 'wamp.close.normal']);
    expect(sub.take().length).toBe(1);
    p.lost();
    expect(sub.take()).toEqual([]);
  });
});

describe('session reuse after GOODBYE', () => {
  it('a second HELLO on the same connection gets WELCOME with a new session id', () => {
    const { peer, join, router } = setup();
    const p = peer();
    const first = join(p);
    p.in([GOODBYE, {}, 'wamp.close.normal']);
    expect(p.take()).toEqual([[GOODBYE, {}, 'wamp.close.goodbye_and_out']]);
    expect(p.closes).toBe(0);
    expect(router.sessions.size).toBe(1);
    const second = join(p);
    expect(second).not.toBe(first);
    expect(router.realm('app')!.sessions.has(first)).toBe(false);
    expect(router.realm('app')!.sessions.has(second)).toBe(true);
    // the new session works
    p.in([CALL, 7, {}, 'wamp.session.flush_testaments', []]);
    expect(p.take()).toEqual([[RESULT, 7, {}, [0]]]);
    // and may join another realm this time
    p.in([GOODBYE, {}, 'wamp.close.normal']);
    p.take();
    expect(join(p, 'other')).not.toBe(second);
  });

  it('closes the connection when no HELLO follows a GOODBYE within the open handshake timeout', async () => {
    const { peer, join, router } = setup();
    const p = peer();
    join(p);
    p.in([GOODBYE, {}, 'wamp.close.normal']);
    p.take();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 80));
    expect(p.closes).toBe(0);
    await until(() => p.closes === 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140); // openHandshakeTimeoutMs: 150
    expect(p.take()).toEqual([]);
    p.lost();
    expect(router.sessions.size).toBe(0);
  });

  it('a HELLO in time cancels the close', async () => {
    const { peer, join } = setup();
    const p = peer();
    join(p);
    p.in([GOODBYE, {}, 'wamp.close.normal']);
    p.take();
    join(p);
    await new Promise((r) => setTimeout(r, 400));
    expect(p.closes).toBe(0);
  });

  it('router-initiated GOODBYE: the session leaves at once, the peer answers, the connection takes a new HELLO', () => {
    const { peer, join, router } = setup();
    const p = peer();
    const first = join(p);
    p.session.goodbye('wamp.close.killed', 'bye');
    expect(p.take()).toEqual([[GOODBYE, { message: 'bye' }, 'wamp.close.killed']]);
    expect(router.realm('app')!.sessions.has(first)).toBe(false);
    p.in([PUBLISH, 1, {}, 'com.example.x', []]); // crossed our GOODBYE: dropped
    p.in([GOODBYE, {}, 'wamp.close.goodbye_and_out']);
    expect(p.take()).toEqual([]);
    expect(join(p)).not.toBe(first);
  });

  it('a peer that does not answer the router GOODBYE is closed after the close handshake timeout', async () => {
    const { peer, join } = setup();
    const p = peer();
    join(p);
    p.session.goodbye('wamp.close.killed');
    await new Promise((r) => setTimeout(r, 80));
    expect(p.closes).toBe(0);
    await until(() => p.closes === 1);
  });
});

describe('WebSocket paths', () => {
  it('a path restricts realms: HELLO for another realm is aborted', () => {
    const { router, cfg } = setup();
    const l = cfg.listeners[0] as WampListenerConfig;
    const base: ListenerRuntime = { name: 'l', cfg: { ...l, type: 'websocket', paths: [{ path: '/app', realms: ['app'] }] } as WampListenerConfig };
    const rt = pathRuntimes(base).get('/app')!;
    const p = new Peer(router, rt);
    p.in([1, 'other', HELLO_ROLES]);
    expect(p.take()).toEqual([[ABORT, { message: 'no realm other here' }, 'wamp.error.no_such_realm']]);
    const q = new Peer(router, rt);
    q.in([1, 'app', HELLO_ROLES]);
    expect(q.take()[0]![0]).toBe(WELCOME);
  });
});

describe('router config: autoPing and paths', () => {
  const base = `
realms: [{ name: app, roles: [{ name: web }] }]
listeners:
  - { type: websocket, port: 8080 }
  - { type: rawsocket, port: 8081 }
  - { type: rawsocket, path: /run/x.sock }
  - { type: websocket, port: 8082, autoPing: false }
  - { type: rawsocket, port: 8083, autoPing: true }
  - { type: rawsocket, port: 8084, autoPing: { intervalMs: 3000 } }
  - type: websocket
    port: 8085
    auth: [ticket]
    paths:
      - { path: /ws, auth: [anonymous] }
      - { path: /auth_ws, auth: [cryptosign], realms: [app] }
      - { path: /plain }
`;
  it('auto-ping: WebSocket on, RawSocket off by default; per-listener override', () => {
    const c = parseConfigText(routerSchema, base, 'r.yaml');
    const pings = c.listeners.map((l) => (l.type === 'redirect' ? 'n/a' : autoPingOf(l, c.limits)));
    expect(pings).toEqual([
      { intervalMs: 10000, timeoutMs: 5000 },
      undefined,
      undefined,
      undefined,
      { intervalMs: 10000, timeoutMs: 5000 },
      { intervalMs: 3000, timeoutMs: 5000 },
      { intervalMs: 10000, timeoutMs: 5000 },
    ]);
  });
  it('paths: several with their own auth and realms; the single urlPath stays valid', () => {
    const c = parseConfigText(routerSchema, base, 'r.yaml');
    const ws = c.listeners[6]!;
    expect(ws.type === 'websocket' && listenerPaths(ws)).toEqual([{ path: '/ws', auth: ['anonymous'] }, { path: '/auth_ws', auth: ['cryptosign'], realms: ['app'] }, { path: '/plain' }]);
    const rts = pathRuntimes({ name: 'x', cfg: ws as WampListenerConfig });
    expect([...rts.keys()]).toEqual(['/ws', '/auth_ws', '/plain']);
    expect(rts.get('/auth_ws')!.cfg.auth).toEqual(['cryptosign']);
    expect(rts.get('/auth_ws')!.realms).toEqual(['app']);
    expect(rts.get('/plain')!.cfg.auth).toEqual(['ticket']); // the listener's
    const first = c.listeners[0]!;
    expect(first.type === 'websocket' && listenerPaths(first)).toEqual([{ path: '/', auth: ['ticket', 'wampcra', 'cryptosign'] }]);
    const single = parseConfigText(routerSchema, base.replace('{ type: websocket, port: 8080 }', '{ type: websocket, port: 8080, urlPath: /wamp, auth: [anonymous] }'), 'r.yaml');
    const s = single.listeners[0]!;
    expect(s.type === 'websocket' && listenerPaths(s)).toEqual([{ path: '/wamp', auth: ['anonymous'] }]);
  });
  it('reports bad autoPing, duplicate paths, urlPath with paths, unknown realms with file and line', () => {
    const errorOf = (text: string) => {
      try {
        parseConfigText(routerSchema, text, 'r.yaml');
        return '';
      } catch (e) {
        return String((e as Error).message);
      }
    };
    expect(errorOf(base.replace('autoPing: true', 'autoPing: sometimes'))).toMatch(/r\.yaml:\d+:\d+: .*autoPing/);
    expect(errorOf(base.replace('intervalMs: 3000', 'intervalMs: 3000, every: 1'))).toMatch(/r\.yaml:\d+:\d+: .*every.*unknown key/);
    expect(errorOf(base.replace('path: /plain', 'path: /ws'))).toMatch(/r\.yaml:\d+:\d+: .*duplicate path "\/ws"/);
    expect(errorOf(base.replace('    auth: [ticket]\n', '    auth: [ticket]\n    urlPath: /x\n'))).toMatch(/r\.yaml:\d+:\d+: .*either urlPath or paths/);
    expect(errorOf(base.replace('realms: [app] }', 'realms: [nope] }'))).toMatch(/r\.yaml:\d+:\d+: .*no realm "nope"/);
    expect(errorOf(base.replace('path: /plain', 'path: plain'))).toMatch(/r\.yaml:\d+:\d+: .*URL path/);
  });
});
