import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import autobahn from 'autobahn';
import nacl from 'tweetnacl';
import { deriveCraKey, hashTicket, startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, closeAb, memoryLogger, tempDir, until } from './helpers.js';

// Every authentication method succeeding and failing, an authorization denial (answered and logged),
// and two components on two Unix sockets with identities they cannot trade.
const mem = memoryLogger();
const tmp = tempDir('bwt-rt-auth-');
const echoSock = join(tmp.dir, 'echo.sock');
const billSock = join(tmp.dir, 'billing.sock');
let r: RunningRouter;
const open: { connection: autobahn.Connection }[] = [];
const keys = nacl.sign.keyPair();
const stranger = nacl.sign.keyPair();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const CRA = { salt: 'salt-for-bob-1234', iterations: 1000, keylen: 32 };

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [
        {
          name: 'app',
          roles: [
            {
              name: 'user',
              permissions: [
                { uri: 'com.example.echo', call: true },
                { uri: 'wamp.session.get', call: true },
              ],
            },
            {
              name: 'echo',
              permissions: [
                { uri: 'com.example.echo', register: true },
                { uri: 'wamp.session.get', call: true },
              ],
            },
            {
              name: 'billing',
              permissions: [
                { uri: 'com.example.billing.', match: 'prefix', register: true },
                { uri: 'wamp.session.get', call: true },
              ],
            },
          ],
        },
      ],
      listeners: [
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket', 'wampcra', 'cryptosign'] },
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['ticket'] },
        { type: 'rawsocket', path: echoSock, component: 'echo' },
        { type: 'rawsocket', path: billSock, component: 'billing' },
      ],
      components: [
        { name: 'echo', realm: 'app', role: 'echo' },
        { name: 'billing', realm: 'app', role: 'billing' },
      ],
      auth: {
        anonymous: { role: 'user' },
        ticket: [{ authid: 'alice', realm: 'app', role: 'user', hash: hashTicket('alice-ticket-secret', { N: 1024, r: 8, p: 1 }) }],
        wampcra: [{ authid: 'bob', realm: 'app', role: 'user', ...CRA, derivedKey: deriveCraKey('bob-secret', CRA.salt, CRA.iterations, CRA.keylen) }],
        cryptosign: [{ authid: 'carol', realm: 'app', role: 'user', pubkeys: [hex(keys.publicKey)] }],
      },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await r?.close();
  tmp.cleanup();
});

const url = (i = 0) => `ws://127.0.0.1:${r.port(i)}/`;
async function join_(o: Record<string, unknown>) {
  const c = await abConnect({ realm: 'app', url: url(), ...o } as autobahn.IConnectionOptions);
  open.push(c);
  return c.session;
}
async function whoami(s: autobahn.Session): Promise<Record<string, unknown>> {
  return (await s.call('wamp.session.get', [s.id])) as Record<string, unknown>;
}

describe('authentication', () => {
  it('anonymous', async () => {
    expect(await whoami(await join_({ authmethods: ['anonymous'] }))).toMatchObject({ authmethod: 'anonymous', authrole: 'user' });
  });
  it('anonymous refused where the listener does not offer it', async () => {
    await expect(join_({ url: url(1), authmethods: ['anonymous'] })).rejects.toThrow(/no_auth_method/);
  });

  const ticket = (authid: string, t: string) => ({ authmethods: ['ticket'], authid, onchallenge: () => t });
  it('ticket', async () => {
    expect(await whoami(await join_(ticket('alice', 'alice-ticket-secret')))).toMatchObject({ authid: 'alice', authmethod: 'ticket' });
  });
  it('ticket: wrong ticket and unknown authid fail alike', async () => {
    await expect(join_(ticket('alice', 'wrong'))).rejects.toThrow(/authentication_failed/);
    await expect(join_(ticket('mallory', 'alice-ticket-secret'))).rejects.toThrow(/authentication_failed/);
  });

  const cra = (authid: string, secret: string) => ({
    authmethods: ['wampcra'],
    authid,
    onchallenge: (_s: unknown, method: string, extra: { challenge: string; salt: string; iterations: number; keylen: number }) => {
      expect(method).toBe('wampcra');
      const key = autobahn.auth_cra.derive_key(secret, extra.salt, extra.iterations, extra.keylen);
      return autobahn.auth_cra.sign(key, extra.challenge);
    },
  });
  it('wampcra (salted)', async () => {
    expect(await whoami(await join_(cra('bob', 'bob-secret')))).toMatchObject({ authid: 'bob', authmethod: 'wampcra' });
  });
  it('wampcra: wrong secret fails', async () => {
    await expect(join_(cra('bob', 'not-bob'))).rejects.toThrow(/authentication_failed/);
    await expect(join_(cra('nobody', 'bob-secret'))).rejects.toThrow(/authentication_failed/);
  });

  const cs = (kp: nacl.SignKeyPair) => ({
    authmethods: ['cryptosign'],
    authextra: { pubkey: hex(kp.publicKey) },
    onchallenge: (_s: unknown, _m: string, extra: { challenge: string }) => {
      const ch = Buffer.from(extra.challenge, 'hex');
      return hex(nacl.sign.detached(ch, kp.secretKey)) + extra.challenge;
    },
  });
  it('cryptosign (Ed25519)', async () => {
    expect(await whoami(await join_(cs(keys)))).toMatchObject({ authid: 'carol', authmethod: 'cryptosign' });
  });
  it('cryptosign: unknown key and a forged signature fail', async () => {
    await expect(join_(cs(stranger))).rejects.toThrow(/authentication_failed/);
    const forged = {
      ...cs(keys),
      onchallenge: (_s: unknown, _m: string, extra: { challenge: string }) => hex(nacl.sign.detached(Buffer.from(extra.challenge, 'hex'), stranger.secretKey)) + extra.challenge,
    };
    await expect(join_(forged)).rejects.toThrow(/authentication_failed/);
  });
});

describe('authorization', () => {
  it('denies by default: ERROR wamp.error.not_authorized and a log line', async () => {
    const s = await join_({ authmethods: ['anonymous'] });
    const err = await Promise.resolve<unknown>(s.register('com.example.echo', () => 1)).then(
      () => 'registered',
      (e: { error?: string }) => e.error,
    );
    expect(err).toBe('wamp.error.not_authorized');
    await until(() => mem.lines.some((l) => l.msg === 'authorization denied' && l.uri === 'com.example.echo' && l.action === 'register'));
  });
});

describe('components on Unix sockets', () => {
  it('get their own identity whatever HELLO claims, and cannot act as each other', async () => {
    // the echo socket's client claims to be billing, with a ticket for alice
    const echo = await join_({ url: undefined, transports: [{ type: 'rawsocket', path: echoSock }], realm: 'other', authid: 'billing', authmethods: ['ticket'], onchallenge: () => 'x' });
    const billing = await join_({ url: undefined, transports: [{ type: 'rawsocket', path: billSock }], authid: 'echo' });
    expect(await whoami(echo)).toMatchObject({ authid: 'echo', authrole: 'echo', authmethod: 'trusted' });
    expect(await whoami(billing)).toMatchObject({ authid: 'billing', authrole: 'billing', authmethod: 'trusted' });
    await echo.register('com.example.echo', (args) => args?.[0]);
    const refused = (p: unknown) =>
      (p as Promise<unknown>).then(
        () => 'ok',
        (e: { error?: string }) => e.error,
      );
    expect(await refused(billing.register('com.example.echo', () => 1))).toBe('wamp.error.not_authorized');
    expect(await refused(echo.register('com.example.billing.charge', () => 1))).toBe('wamp.error.not_authorized');
    const user = await join_({ authmethods: ['anonymous'] });
    expect(await user.call('com.example.echo', ['hi'])).toBe('hi');
  });
});
