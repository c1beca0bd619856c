import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import autobahn from 'autobahn';
import WebSocket from 'ws';
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import { hashTicket, startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, closeAb, memoryLogger, tempDir, until, type AbSession } from './helpers.js';

// The subscription/registration meta API and the empty prefix from autobahn-js, event retention from
// Debian's python3-autobahn (Twisted, RawSocket-CBOR on a Unix socket), event history from wampy.
const PY = '/usr/bin/python3';
const mem = memoryLogger();
const tmp = tempDir('bwt-rt-meta-');
const sock = join(tmp.dir, 'pyret.sock');
let r: RunningRouter;
const open: { connection: autobahn.Connection }[] = [];
const children: ChildProcess[] = [];
const wampies: Wampy[] = [];

const rule = (uri: string, match: 'exact' | 'prefix', flags: Record<string, boolean>) => ({ uri, match, ...flags });
const ALL = { call: true, register: true, publish: true, subscribe: true };

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [
        {
          name: 'app',
          roles: [
            {
              name: 'public',
              permissions: [
                rule('com.example.', 'prefix', ALL),
                rule('org.unrelated.', 'prefix', { publish: true }),
                rule('wamp.subscription.', 'prefix', { call: true, subscribe: true }),
                rule('wamp.registration.', 'prefix', { call: true, subscribe: true }),
                rule('wamp.topic.history.', 'prefix', { call: true }),
              ],
            },
            { name: 'wide', permissions: [rule('', 'prefix', { subscribe: true })] },
            { name: 'outsider', permissions: [rule('com.example.', 'prefix', ALL)] },
            { name: 'backend', permissions: [rule('com.example.', 'prefix', ALL)] },
          ],
          history: { topics: [{ uri: 'com.example.hist', limit: 10 }] },
        },
      ],
      listeners: [
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket'] },
        { type: 'rawsocket', path: sock, component: 'pyret' },
      ],
      components: [{ name: 'pyret', realm: 'app', role: 'backend' }],
      auth: {
        anonymous: { role: 'public' },
        ticket: [
          { authid: 'wide', realm: 'app', role: 'wide', hash: hashTicket('wide-ticket', { N: 1024, r: 8, p: 1 }) },
          { authid: 'outsider', realm: 'app', role: 'outsider', hash: hashTicket('out-ticket', { N: 1024, r: 8, p: 1 }) },
        ],
      },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await Promise.all(wampies.map((w) => w.disconnect().catch(() => undefined)));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await r?.close();
  tmp.cleanup();
});

const S = (autobahn as unknown as { serializer: Record<string, new () => unknown> }).serializer;
async function ab(ser: 'JSONSerializer' | 'CBORSerializer' | 'MsgpackSerializer', extra: Record<string, unknown> = {}): Promise<AbSession> {
  const c = await abConnect({ url: `ws://127.0.0.1:${r.port(0)}/`, realm: 'app', serializers: [new S[ser]!()], ...extra } as autobahn.IConnectionOptions);
  open.push(c);
  return c.session;
}
const errorOf = (p: PromiseLike<unknown>) =>
  Promise.resolve(p).then(
    () => 'no error',
    (e: { error?: string }) => e.error ?? String(e),
  );

describe('subscription and registration meta API from autobahn-js', () => {
  it('sends the lifecycle events in order and answers the meta procedures', async () => {
    const watcher = await ab('CBORSerializer');
    const other = await ab('JSONSerializer');
    const seen: unknown[][] = [];
    for (const t of [
      'subscription.on_create',
      'subscription.on_subscribe',
      'subscription.on_unsubscribe',
      'subscription.on_delete',
      'registration.on_create',
      'registration.on_register',
      'registration.on_unregister',
      'registration.on_delete',
    ]) {
      await watcher.subscribe(`wamp.${t}`, (args) => seen.push([t, ...(args ?? [])]));
    }
    const sub = await other.subscribe('com.example.meta.topic', () => undefined);
    const reg = await other.register('com.example.meta.proc', () => 1);
    await until(() => seen.length === 4, 5000, 'create/subscribe/register events');
    expect(seen).toEqual([
      ['subscription.on_create', other.id, { id: sub.id, created: expect.any(String), uri: 'com.example.meta.topic', match: 'exact' }],
      ['subscription.on_subscribe', other.id, sub.id],
      ['registration.on_create', other.id, { id: reg.id, created: expect.any(String), uri: 'com.example.meta.proc', match: 'exact', invoke: 'single' }],
      ['registration.on_register', other.id, reg.id],
    ]);
    expect(await watcher.call('wamp.subscription.lookup', ['com.example.meta.topic'])).toBe(sub.id);
    expect(await watcher.call('wamp.subscription.match', ['com.example.meta.topic'])).toEqual([sub.id]);
    expect(await watcher.call('wamp.subscription.get', [sub.id])).toMatchObject({ id: sub.id, uri: 'com.example.meta.topic', match: 'exact' });
    expect(await watcher.call('wamp.subscription.list_subscribers', [sub.id])).toEqual([other.id]);
    expect(await watcher.call('wamp.subscription.count_subscribers', [sub.id])).toBe(1);
    expect(((await watcher.call('wamp.subscription.list')) as { exact: number[] }).exact).toContain(sub.id);
    expect(await watcher.call('wamp.registration.lookup', ['com.example.meta.proc'])).toBe(reg.id);
    expect(await watcher.call('wamp.registration.match', ['com.example.meta.proc'])).toBe(reg.id);
    expect(await watcher.call('wamp.registration.get', [reg.id])).toMatchObject({ id: reg.id, uri: 'com.example.meta.proc', invoke: 'single' });
    expect(await watcher.call('wamp.registration.list_callees', [reg.id])).toEqual([other.id]);
    expect(await watcher.call('wamp.registration.count_callees', [reg.id])).toBe(1);
    expect(await errorOf(watcher.call('wamp.subscription.get', [123456789]))).toBe('wamp.error.no_such_subscription');
    await other.unsubscribe(sub);
    await other.unregister(reg);
    await until(() => seen.length === 8, 5000, 'unsubscribe/unregister events');
    expect(seen.slice(4)).toEqual([
      ['subscription.on_unsubscribe', other.id, sub.id],
      ['subscription.on_delete', other.id, sub.id],
      ['registration.on_unregister', other.id, reg.id],
      ['registration.on_delete', other.id, reg.id],
    ]);
  });

  it('refuses the meta API to a role without permission on it', async () => {
    const out = await ab('JSONSerializer', { authmethods: ['ticket'], authid: 'outsider', onchallenge: () => 'out-ticket' });
    expect(await errorOf(out.call('wamp.subscription.list'))).toBe('wamp.error.not_authorized');
    expect(await errorOf(out.call('wamp.registration.count_callees', [1]))).toBe('wamp.error.not_authorized');
    expect(await errorOf(out.subscribe('wamp.subscription.on_create', () => undefined))).toBe('wamp.error.not_authorized');
  });
});

describe('empty prefix from autobahn-js', () => {
  it('a "" prefix subscription receives events of two unrelated topics', async () => {
    const wide = await ab('MsgpackSerializer', { authmethods: ['ticket'], authid: 'wide', onchallenge: () => 'wide-ticket' });
    const got: string[] = [];
    await wide.subscribe(
      '',
      (args, _kw, details) => {
        const topic = String((details as { topic?: string }).topic);
        // its rule covers wamp. too: the meta events of the sessions below arrive as well
        if (!topic.startsWith('wamp.')) got.push(`${topic}=${String(args?.[0])}`);
      },
      { match: 'prefix' },
    );
    const pub = await ab('JSONSerializer');
    await pub.publish('com.example.weather', ['sunny'], {}, { acknowledge: true });
    await pub.publish('org.unrelated.stock', [42], {}, { acknowledge: true });
    await until(() => got.length === 2, 5000, 'two events');
    expect(got).toEqual(['com.example.weather=sunny', 'org.unrelated.stock=42']);
    // anonymous (public) has no rule covering "": refused
    expect(await errorOf(pub.subscribe('', () => undefined, { match: 'prefix' }))).toBe('wamp.error.not_authorized');
  });
});

describe('event retention with python3-autobahn', () => {
  it('gets the retained event right after subscribing with get_retained, marked retained', async () => {
    const pub = await ab('CBORSerializer');
    await pub.publish('com.example.py.state', ['old', 1], {}, { acknowledge: true, retain: true });
    const publication = await pub.publish('com.example.py.state', ['current', 2], {}, { acknowledge: true, retain: true });
    await pub.publish('com.example.py.state', ['not retained', 3], {}, { acknowledge: true });
    const child = spawn(PY, [join(import.meta.dirname, 'py', 'retained.py'), sock, 'com.example.py.state'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    await until(() => lines.length > 0, 30_000, `python retained (${stderr.join('')})`);
    expect(lines[0]).toEqual({ authid: 'pyret', retained: [{ args: ['current', 2], retained: true, publication: (publication as { id: number }).id }], plain: [] });
  });
});

describe('event history from wampy', () => {
  it('wamp.topic.history.last returns the newest events of a configured topic; others are unavailable', async () => {
    const w = new Wampy(`ws://127.0.0.1:${r.port(0)}/`, { ws: WebSocket, realm: 'app', autoReconnect: false, serializer: new JsonSerializer() } as never);
    wampies.push(w);
    await w.connect();
    for (const n of [1, 2, 3]) await w.publish('com.example.hist', [n], { acknowledge: true, exclude_me: false } as never);
    type History = { argsList: [Record<string, unknown>[]] };
    const res = (await w.call('wamp.topic.history.last', ['com.example.hist', 2])) as unknown as History;
    expect(res.argsList[0].map((e) => e.args)).toEqual([[3], [2]]);
    expect(res.argsList[0][0]).toMatchObject({ topic: 'com.example.hist', publication: expect.any(Number), timestamp: expect.any(String) });
    const after = (await w.call('wamp.topic.history.after', ['com.example.hist', res.argsList[0][1]!.publication])) as unknown as History;
    expect(after.argsList[0].map((e) => e.args)).toEqual([[3]]);
    const err = await w.call('wamp.topic.history.last', ['com.example.nohist', 2]).then(
      () => 'no error',
      (e: { errorUri?: string; message?: string }) => String(e.errorUri ?? e.message),
    );
    expect(err).toContain('wamp.error.history_unavailable');
  });
});
