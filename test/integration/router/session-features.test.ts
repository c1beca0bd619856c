import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type autobahn from 'autobahn';
import nacl from 'tweetnacl';
import WebSocket from 'ws';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, closeAb, memoryLogger, until } from './helpers.js';
import { exchange, frame, handshake } from './raw.js';

// Testaments, session reuse after GOODBYE, RawSocket keepalive defaults and WebSocket paths, with
// clients written by others: autobahn-js and Debian's python3-autobahn (Twisted RawSocket on TCP).
// The tests run concurrently: the 30 s keepalive test overlaps the others.
const PY = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'py', 'rawsocket_tcp.py');
const mem = memoryLogger();
const keys = nacl.sign.keyPair();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
let r: RunningRouter;
const children: ChildProcess[] = [];
const open: { connection: autobahn.Connection }[] = [];

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [
        {
          name: 'app',
          roles: [
            {
              name: 'web',
              permissions: [
                { uri: 'com.example.', match: 'prefix', call: true, register: true, publish: true, subscribe: true, disclose: { publisher: true } },
                { uri: 'wamp.session.', match: 'prefix', call: true, subscribe: true },
              ],
            },
            { name: 'user', permissions: [{ uri: 'wamp.session.', match: 'prefix', call: true }] },
          ],
        },
      ],
      // default limits and keepalive settings throughout
      listeners: [
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        {
          type: 'websocket',
          host: '127.0.0.1',
          port: 0,
          paths: [
            { path: '/ws', auth: ['anonymous'] },
            { path: '/auth_ws', auth: ['cryptosign'], realms: ['app'] },
          ],
        },
      ],
      auth: { anonymous: { role: 'web' }, cryptosign: [{ authid: 'carol', realm: 'app', role: 'user', pubkeys: [hex(keys.publicKey)] }] },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await r?.close();
});

function runPy(mode: string): { child: ChildProcess; lines: Record<string, unknown>[]; stderr: string[] } {
  const child = spawn(PY, [SCRIPT, mode, '127.0.0.1', String(r.port(0))], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      stderr.push(l);
    }
  });
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  return { child, lines, stderr };
}

const wsUrl = (path: string) => `ws://127.0.0.1:${r.port(1)}${path}`;
async function web(path = '/ws', o: Record<string, unknown> = {}) {
  const c = await abConnect({ url: wsUrl(path), realm: 'app', authmethods: ['anonymous'], ...o } as autobahn.IConnectionOptions);
  open.push(c);
  return c;
}

describe('router session features (concurrent)', () => {
  it.concurrent('keepalive: a Twisted RawSocket session (python3-autobahn) on TCP stays up 30 s with default settings and answers a call at the end', async ({ expect }) => {
    const py = runPy('idle');
    await until(() => py.lines.some((l) => l.ready), 20_000, `python idle client (${py.stderr.join('')})`);
    const sid = py.lines.find((l) => l.ready)!.session as number;
    console.log('keepalive: python3-autobahn Twisted RawSocket session idle for 30 s');
    await new Promise((res) => setTimeout(res, 30_000));
    expect(py.lines.some((l) => l.disconnected)).toBe(false);
    const c = await web();
    expect(await c.session.call('com.example.py.alive')).toEqual({ alive: true, session: sid });
    // the router never sent it a PING (it would have dropped the connection: a PING header reads as a 16 MiB length)
    expect(mem.lines.some((l) => l.msg === 'rawsocket dropped')).toBe(false);
  }, 60_000);
  it.concurrent('testament: kill -9 of a python3-autobahn client: its testament reaches an autobahn-js subscriber once, publisher disclosed', async ({ expect }) => {
    const c = await web();
    const got: { args: unknown[]; kwargs: unknown; details: Record<string, unknown> }[] = [];
    await c.session.subscribe('com.example.t.gone', (args, kwargs, details) => got.push({ args: args ?? [], kwargs, details: details as unknown as Record<string, unknown> }));
    const py = runPy('testament');
    await until(() => py.lines.some((l) => l.ready), 20_000, `python testament client (${py.stderr.join('')})`);
    const sid = py.lines.find((l) => l.ready)!.session as number;
    expect(got).toEqual([]);
    py.child.kill('SIGKILL');
    await until(() => got.length === 1, 5000, 'testament event');
    expect(got[0]!.args).toEqual(['py-gone', sid]);
    expect(got[0]!.kwargs).toEqual({ why: 'killed' });
    expect(got[0]!.details).toMatchObject({ publisher: sid, publisher_authrole: 'web' });
    await new Promise((res) => setTimeout(res, 300));
    expect(got.length).toBe(1);
  });
  it.concurrent('reuse: autobahn-js leave() then join() on the same WebSocket gets a new session', async ({ expect }) => {
    const c = await web();
    const first = c.session.id;
    const peer = ((await c.session.call('wamp.session.get', [first])) as { transport: { peer: string } }).transport.peer;
    const closeOnLeave = c.session.onleave; // autobahn-js's own: close the transport
    const second = new Promise<number>((resolve) => {
      c.connection.onopen = (s) => resolve(s.id);
    });
    const left = new Promise<string>((resolve) => {
      c.session.onleave = (reason: string) => {
        resolve(reason);
        (c.session as unknown as { join(realm: string, authmethods: string[]): void }).join('app', ['anonymous']);
      };
    });
    c.session.leave('wamp.close.normal', 'again');
    expect(await left).toBe('wamp.close.goodbye_and_out');
    const id = await second;
    expect(id).not.toBe(first);
    // the same TCP connection (same client port) carries the new session
    expect(await c.session.call('wamp.session.get', [id])).toMatchObject({ session: id, authrole: 'web', transport: { peer } });
    await expect(c.session.call('wamp.session.get', [first])).rejects.toMatchObject({ error: 'wamp.error.no_such_session' });
    c.session.onleave = closeOnLeave;
  });

  it.concurrent('reuse: a RawSocket peer that says GOODBYE and then nothing is closed after the open handshake timeout', async ({ expect }) => {
    const hello = frame(JSON.stringify([1, 'app', { roles: { caller: {} }, authmethods: ['anonymous'] }]));
    const goodbye = frame(JSON.stringify([6, {}, 'wamp.close.normal']));
    const t0 = Date.now();
    const { data, closed } = await exchange({ port: r.port(0) }, Buffer.concat([handshake(1), hello, goodbye]), { timeoutMs: 6000 });
    const took = Date.now() - t0;
    expect(closed).toBe(true);
    expect(took).toBeGreaterThanOrEqual(2400); // openHandshakeTimeoutMs (2500) after the GOODBYE
    expect(took).toBeLessThan(5000);
    // handshake reply, WELCOME, GOODBYE
    const msgs: unknown[][] = [];
    for (let at = 4; at + 4 <= data.length; ) {
      const len = data.readUIntBE(at + 1, 3);
      msgs.push(JSON.parse(data.subarray(at + 4, at + 4 + len).toString()) as unknown[]);
      at += 4 + len;
    }
    expect(msgs.map((m) => m[0])).toEqual([2, 6]);
    expect(msgs[1]).toEqual([6, {}, 'wamp.close.goodbye_and_out']);
  });

  it.concurrent('reuse: python3-autobahn (Twisted RawSocket) leave() then join() on the same transport', async ({ expect }) => {
    const py = runPy('rejoin');
    await until(() => py.lines.some((l) => l.joins), 20_000, `python rejoin client (${py.stderr.join('')})`);
    const { joins, count } = py.lines.find((l) => l.joins) as { joins: number[]; count: number };
    expect(joins.length).toBe(2);
    expect(joins[0]).not.toBe(joins[1]);
    expect(count).toBeGreaterThanOrEqual(1);
  });
  it.concurrent('paths: /ws anonymous, /auth_ws cryptosign only, /nope 404', async ({ expect }) => {
    await expect(web('/auth_ws')).rejects.toThrow(/no_auth_method/);
    const cs = await web('/auth_ws', {
      authmethods: ['cryptosign'],
      authextra: { pubkey: hex(keys.publicKey) },
      onchallenge: (_s: unknown, _m: string, extra: { challenge: string }) => hex(nacl.sign.detached(Buffer.from(extra.challenge, 'hex'), keys.secretKey)) + extra.challenge,
    });
    expect(await cs.session.call('wamp.session.get', [cs.session.id])).toMatchObject({ authid: 'carol', authmethod: 'cryptosign' });
    const anon = await web('/ws');
    expect(await anon.session.call('wamp.session.get', [anon.session.id])).toMatchObject({ authmethod: 'anonymous', authrole: 'web' });
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl('/nope'), ['wamp.2.json']);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('upgraded on /nope')));
      ws.on('error', () => {});
    });
    expect(status).toBe(404);
    // the query string is not part of the path
    const q = await web('/ws?x=1');
    expect(q.session.id).toBeGreaterThan(0);
  });
});
