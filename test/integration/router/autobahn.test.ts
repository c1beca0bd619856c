import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir, until, type AbSession } from './helpers.js';

const tmp = tempDir('bwt-rt-ab-');
const sock = join(tmp.dir, 'router.sock');
const mem = memoryLogger();
let r: RunningRouter;
const open: { connection: autobahn.Connection }[] = [];

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        { type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
        { type: 'rawsocket', path: sock, auth: ['anonymous'] },
      ],
      auth: { anonymous: { role: 'public' } },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await r?.close();
  tmp.cleanup();
});

async function connect(kind: string): Promise<AbSession> {
  const wsUrl = `ws://127.0.0.1:${r.port(0)}/`;
  const S = (autobahn as unknown as { serializer: Record<string, new () => unknown> }).serializer;
  const opts: Record<string, autobahn.IConnectionOptions> = {
    'ws-json': { url: wsUrl, realm: 'app', serializers: [new S.JSONSerializer!()] } as autobahn.IConnectionOptions,
    'ws-msgpack': { url: wsUrl, realm: 'app', serializers: [new S.MsgpackSerializer!()] } as autobahn.IConnectionOptions,
    'ws-cbor': { url: wsUrl, realm: 'app', serializers: [new S.CBORSerializer!()] } as autobahn.IConnectionOptions,
    'rawsocket-tcp': { transports: [{ type: 'rawsocket', host: '127.0.0.1', port: r.port(1) }], realm: 'app' } as unknown as autobahn.IConnectionOptions,
    'rawsocket-unix': { transports: [{ type: 'rawsocket', path: sock }], realm: 'app' } as unknown as autobahn.IConnectionOptions,
  };
  const c = await abConnect(opts[kind]!);
  open.push(c);
  return c.session;
}

describe.each(['ws-json', 'ws-msgpack', 'ws-cbor', 'rawsocket-tcp', 'rawsocket-unix'])('autobahn-js over %s', (kind) => {
  it('does RPC and pub/sub with binary and large ids', async () => {
    const a = await connect(kind);
    const b = await connect(kind);
    const proc = `com.example.${kind.replace(/-/g, '_')}.add`;
    await b.register(proc, (args: unknown[] | undefined) => (args as number[]).reduce((x, y) => x + y, 0) + 2 ** 40);
    expect(await a.call(proc, [1, 2])).toBe(3 + 2 ** 40);
    const got: unknown[] = [];
    await b.subscribe(`com.example.${kind}.topic`, (args) => got.push(args?.[0]));
    await a.publish(`com.example.${kind}.topic`, ['hello'], {}, { acknowledge: true });
    await until(() => got.length === 1, 5000, 'event');
    expect(got).toEqual(['hello']);
  });
});
