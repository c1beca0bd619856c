import type autobahn from 'autobahn';
import { afterAll, describe, expect, it } from 'vitest';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, closeAb, memoryLogger, tempDir, until } from '../router/helpers.js';
import { fabricRouterConfig, freePort, startNats } from './local-cluster.js';

// A router whose nats-server is not up yet (a node booting: the router container starts before or with
// bulwark-nats): a component that joins at once and registers gets REGISTERED once the fabric is up,
// not an error it would have to retry, and the registration then reaches the other nodes.
const tmp = tempDir('bwt-fabric-start-');
const routers: RunningRouter[] = [];
const conns: { connection: autobahn.Connection }[] = [];
let stopNats: (() => Promise<void>) | undefined;
afterAll(async () => {
  await Promise.all(conns.map(closeAb));
  await Promise.all(routers.map((r) => r.close()));
  await stopNats?.();
  tmp.cleanup();
});

describe('fabric start-up', () => {
  it('a REGISTER made before the nats-server is reachable is answered once the fabric is up', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const mem = memoryLogger('warn');
    const r1 = await startRouter(fabricRouterConfig('n1', url), { log: mem.log });
    routers.push(r1);
    const c = await abConnect({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: r1.port(0) }], realm: 'app' } as unknown as autobahn.IConnectionOptions);
    conns.push(c);
    let answer: string | undefined;
    c.session
      .register('com.example.early', () => 'early bird')
      .then(
        () => (answer = 'registered'),
        (e: { error?: string }) => (answer = `error ${e.error ?? String(e)}`),
      );
    await new Promise((r) => setTimeout(r, 1500));
    expect(answer, 'answered before any nats-server was there').toBeUndefined();
    const nats = await startNats(tmp.dir, port);
    stopNats = nats.stop;
    await until(() => answer !== undefined, 20_000, 'the REGISTER answer');
    expect(answer).toBe('registered');
    // a second node sees it and calls it
    const r2 = await startRouter(fabricRouterConfig('n2', url), { log: mem.log });
    routers.push(r2);
    await until(() => r2.router.realm('app')!.dealer.match('com.example.early') !== undefined, 10_000, 'the registration on n2');
    const c2 = await abConnect({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port: r2.port(0) }], realm: 'app' } as unknown as autobahn.IConnectionOptions);
    conns.push(c2);
    expect(await c2.session.call('com.example.early')).toBe('early bird');
  }, 60_000);
});
