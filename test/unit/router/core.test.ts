import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RolePermissions } from '../../../src/router/core/authorize.js';
import { RateLimiter } from '../../../src/util/ratelimit.js';
import { matches, validUri, wildcardMatch } from '../../../src/router/core/uri.js';
import { globalId } from '../../../src/router/core/ids.js';
import { routerSchema } from '../../../src/router/config.js';
import { parseConfigText } from '../../../src/config/load.js';
import { hashTicket, verifyTicket } from '../../../src/router/auth/ticket.js';
import { craSignature, deriveCraKey, verifyCra } from '../../../src/router/auth/wampcra.js';
import { verifyCryptosign } from '../../../src/router/auth/cryptosign.js';
import { lengthExponent } from '../../../src/router/transport/rawsocket.js';
import { chooseSubprotocol } from '../../../src/router/transport/websocket.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from 'node:crypto';

const perm = (uri: string, match: 'exact' | 'prefix' | 'wildcard', flags: Record<string, unknown>) => ({
  uri,
  match,
  call: false,
  register: false,
  publish: false,
  subscribe: false,
  disclose: {},
  ...flags,
});

describe('URIs', () => {
  it('validates loose URIs per match policy', () => {
    expect(validUri('com.example.a')).toBe(true);
    expect(validUri('com..a')).toBe(false);
    expect(validUri('com..a', 'wildcard')).toBe(true);
    expect(validUri('com.example.', 'prefix')).toBe(true);
    expect(validUri('a b')).toBe(false);
    expect(validUri('a#b')).toBe(false);
    expect(validUri('')).toBe(false);
  });
  it('matches wildcards component-wise', () => {
    expect(wildcardMatch('com..temp', 'com.room1.temp')).toBe(true);
    expect(wildcardMatch('com..temp', 'com.room1.x.temp')).toBe(false);
    expect(matches('com.ex', 'prefix', 'com.example')).toBe(true);
  });
});

describe('authorization', () => {
  const p = new RolePermissions([
    perm('com.example.', 'prefix', { call: true, subscribe: true }),
    perm('com.example.admin.', 'prefix', { call: false }),
    perm('com.example.admin.ping', 'exact', { call: true, disclose: { caller: true } }),
    perm('com..public', 'wildcard', { publish: true }),
  ]);
  it('uses the most specific rule and denies by default', () => {
    expect(p.allows('call', 'com.example.x')).toBe(true);
    expect(p.allows('call', 'com.example.admin.reboot')).toBe(false);
    expect(p.allows('call', 'com.example.admin.ping')).toBe(true);
    expect(p.allows('register', 'com.example.x')).toBe(false);
    expect(p.allows('publish', 'com.any.public')).toBe(true);
    expect(p.allows('call', 'org.other')).toBe(false);
  });
  it('disclosure: true always, unset as the client asks', () => {
    expect(p.discloses('caller', 'com.example.admin.ping', false)).toBe(true);
    expect(p.discloses('caller', 'com.example.x', false)).toBe(false);
    expect(p.discloses('caller', 'com.example.x', true)).toBe(true);
  });
  it('never allows anything without a rule (property)', () => {
    fc.assert(fc.property(fc.string(), (uri) => !new RolePermissions([]).allows('call', uri)));
  });
});

describe('rate limiter', () => {
  it('allows the burst, then perSecond', () => {
    const l = new RateLimiter(1, 2);
    expect([l.take('a', 0), l.take('a', 0), l.take('a', 0)]).toEqual([true, true, false]);
    expect(l.take('b', 0)).toBe(true);
    expect(l.take('a', 1000)).toBe(true);
    expect(l.take('a', 1000)).toBe(false);
  });
});

describe('ids', () => {
  it('global ids are integers in [1, 2^53]', () => {
    for (let i = 0; i < 1000; i++) {
      const id = globalId();
      expect(Number.isSafeInteger(id) && id >= 1 && id <= 2 ** 53).toBe(true);
    }
  });
  it('global ids stay distinct and use the high bits across random-pool refills', () => {
    const ids = Array.from({ length: 40_000 }, () => globalId()); // ~5 refills of the 64 KiB pool
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id > 2 ** 52).length).toBeGreaterThan(18_000); // ~half have the top bit
    expect(ids.filter((id) => id <= 2 ** 32).length).toBeLessThan(10);
  });
});

describe('auth primitives', () => {
  it('ticket hashes verify only the right ticket', () => {
    const h = hashTicket('s3cret', { N: 1024, r: 8, p: 1 });
    expect(h).not.toContain('s3cret');
    expect(verifyTicket('s3cret', h)).toBe(true);
    expect(verifyTicket('s3cret!', h)).toBe(false);
    expect(verifyTicket('s3cret', 'garbage')).toBe(false);
  });
  it('WAMP-CRA matches autobahn (PBKDF2-SHA256, base64 key as HMAC key)', () => {
    const key = deriveCraKey('secret', 'salt123', 1000, 32);
    expect(verifyCra(key, 'challenge', craSignature(key, 'challenge'))).toBe(true);
    expect(verifyCra(key, 'challenge', craSignature(key, 'other'))).toBe(false);
  });
  it('cryptosign accepts 64- and 96-byte answers over our challenge only', () => {
    const sk = ed25519.utils.randomSecretKey();
    const pk = Buffer.from(ed25519.getPublicKey(sk)).toString('hex');
    const ch = randomBytes(32).toString('hex');
    const sig = Buffer.from(ed25519.sign(Buffer.from(ch, 'hex'), sk)).toString('hex');
    expect(verifyCryptosign(pk, ch, sig)).toBe(true);
    expect(verifyCryptosign(pk, ch, sig + ch)).toBe(true);
    expect(verifyCryptosign(pk, ch, sig + 'ab'.repeat(32))).toBe(false);
    expect(verifyCryptosign(pk, randomBytes(32).toString('hex'), sig)).toBe(false);
    expect(verifyCryptosign(pk, ch, 'zz')).toBe(false);
  });
});

describe('transport helpers', () => {
  it('RawSocket length exponent for 1 MiB is 11', () => expect(lengthExponent(1024 * 1024)).toBe(11));
  it('picks the first offered subprotocol we speak', () => {
    expect(chooseSubprotocol('wamp.2.ubjson, wamp.2.cbor, wamp.2.json', ['json', 'cbor'])?.id).toBe('cbor');
    expect(chooseSubprotocol('wamp.2.msgpack', ['json'])).toBeUndefined();
    expect(chooseSubprotocol(undefined, ['json'])).toBeUndefined();
  });
});

describe('router config', () => {
  const good = `
realms:
  - name: app
    roles:
      - name: backend
        permissions: [{ uri: com.example., match: prefix, call: true, register: true, disclose: { caller: true } }]
listeners:
  - { type: websocket, fdName: https, tls: { cert: /c.pem, key: /k.pem } }
  - { type: redirect, port: 80 }
  - { type: rawsocket, path: /run/bulwark/components/echo/router.sock, component: echo }
components:
  - { name: echo, realm: app, role: backend }
`;
  it('parses with production defaults', () => {
    const c = parseConfigText(routerSchema, good, 'r.yaml');
    expect(c.limits).toMatchObject({
      maxMessageSize: 1048576,
      autoFragmentSize: 65536,
      openHandshakeTimeoutMs: 2500,
      closeHandshakeTimeoutMs: 1000,
      autoPingIntervalMs: 10000,
      autoPingTimeoutMs: 5000,
    });
    expect(c.limits.compression).toEqual({ enabled: true, windowBits: 13, memLevel: 5 });
    const ws = c.listeners[0]!;
    expect(ws.type === 'websocket' && ws.tls?.hstsMaxAge).toBe(31536000);
  });
  it('reports unknown keys, dangling references and bad listeners with line numbers', () => {
    const bad = good.replace('component: echo }', 'component: echo, port: 9 }').replace('role: backend }', 'role: nobody }').replace('fdName: https,', 'fdName: https, colour: red,');
    let msg = '';
    try {
      parseConfigText(routerSchema, bad, 'r.yaml');
    } catch (e) {
      msg = String((e as Error).message);
    }
    expect(msg).toMatch(/r\.yaml:\d+:\d+: .*colour.*unknown key/);
    expect(msg).toMatch(/realm "app" has no role "nobody"/);
    expect(msg).toMatch(/exactly one of fdName, path or port/);
  });
});
