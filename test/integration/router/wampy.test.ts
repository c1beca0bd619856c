import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import { CborSerializer } from 'wampy/CborSerializer.js';
import { hashTicket, startRouter, type RunningRouter } from '../../../src/router/index.js';
import { baseRealm, memoryLogger, until } from './helpers.js';

// wampy.js over WebSocket with each serializer, including ticket authentication.
const mem = memoryLogger();
let r: RunningRouter;
const clients: Wampy[] = [];

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket'] }],
      auth: {
        anonymous: { role: 'public' },
        ticket: [{ authid: 'dave', realm: 'app', role: 'backend', hash: hashTicket('dave-ticket', { N: 1024, r: 8, p: 1 }) }],
      },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  if (process.env.DUMP)
    console.log(
      JSON.stringify(
        mem.lines.filter((l) => l.msg !== 'session joined' && l.msg !== 'session left'),
        null,
        0,
      ),
    );
  await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
  await r?.close();
});

const SERIALIZERS = { json: () => new JsonSerializer(), msgpack: () => new MsgpackSerializer(), cbor: () => new CborSerializer() };

async function client(ser: keyof typeof SERIALIZERS, extra: Record<string, unknown> = {}): Promise<Wampy> {
  const w = new Wampy(`ws://127.0.0.1:${r.port(0)}/`, { ws: WebSocket, realm: 'app', autoReconnect: false, serializer: SERIALIZERS[ser](), ...extra } as never);
  clients.push(w);
  await w.connect();
  return w;
}

describe.each(['json', 'msgpack', 'cbor'] as const)('wampy over WebSocket-%s', (ser) => {
  it('calls, receives progressive results and events (prefix subscription)', async () => {
    const callee = await client(ser, { authid: 'dave', authmethods: ['ticket'], onChallenge: () => 'dave-ticket' });
    const caller = await client(ser);
    const proc = `com.example.wampy.${ser}.mul`;
    await callee.register(proc, ({ argsList, result_handler }) => {
      result_handler({ argsList: ['half'], options: { progress: true } });
      const [a, b] = argsList as [number, number];
      return { argsList: [a * b] };
    });
    const progress: unknown[] = [];
    const res = (await caller.call(proc, [6, 7], { progress_callback: (p: { argsList: unknown[] }) => progress.push(p.argsList[0]) } as never)) as { argsList: unknown[] };
    expect(res.argsList).toEqual([42]);
    expect(progress).toEqual(['half']);

    const events: string[] = [];
    await callee.subscribe(
      `com.example.wampy.${ser}`,
      (e) => {
        events.push(`${String(e.details.topic)}=${String(e.argsList?.[0])}`);
      },
      { match: 'prefix' },
    );
    await caller.publish(`com.example.wampy.${ser}.t1`, ['v'], { acknowledge: true } as never);
    await until(() => events.length === 1);
    expect(events).toEqual([`com.example.wampy.${ser}.t1=v`]);
  });

  it('is refused with a wrong ticket', async () => {
    await expect(client(ser, { authid: 'dave', authmethods: ['ticket'], onChallenge: () => 'nope' })).rejects.toThrow();
    expect(mem.lines.some((l) => l.event === 'auth.failed')).toBe(true);
  });
});
