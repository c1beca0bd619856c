import { join } from 'node:path';
import type { Server } from 'node:http';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRouter, hashTicket, type RunningRouter } from '../../../src/router/index.js';
import { routerRegistry, serveRouterMetrics, ROUTER_METRICS } from '../../../src/router/metrics.js';
import { getUnix } from '../../../src/metrics/sources.js';
import { samplesOf } from '../../../src/metrics/collect.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir } from '../router/helpers.js';

// The router with autobahn-js clients; its metrics read the way the agent reads them: GET /metrics on
// the router's Unix socket.
const tmp = tempDir('bwt-metrics-rt-');
const metricsSock = join(tmp.dir, 'metrics.sock');
const mem = memoryLogger();
let r: RunningRouter;
let srv: Server;

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket'] }],
      auth: { anonymous: { role: 'public' }, ticket: [{ authid: 'alice', realm: 'app', role: 'backend', hash: hashTicket('alice-ticket-secret', { N: 1024, r: 8, p: 1 }) }] },
    },
    { log: mem.log },
  );
  srv = await serveRouterMetrics(routerRegistry(r.router), metricsSock, mem.log);
});
afterAll(async () => {
  srv?.close();
  await r?.close();
  tmp.cleanup();
});

async function scrape(): Promise<string> {
  const t = await getUnix(metricsSock, '/metrics');
  if (t === null) throw new Error('router metrics socket did not answer');
  return t;
}
const value = (text: string, name: string, labels: Record<string, string> = {}): number =>
  samplesOf(text, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
const url = () => `ws://127.0.0.1:${r.port(0)}/`;

describe('router metrics over its Unix socket, moved by autobahn-js', () => {
  it('the socket is 0600 and answers only /metrics', async () => {
    expect(statSync(metricsSock).mode & 0o777).toBe(0o600);
    expect(await getUnix(metricsSock, '/')).toBeNull();
  });

  it('sessions by realm and role go up when clients join and down when they leave', async () => {
    const before = await scrape();
    expect(value(before, ROUTER_METRICS.sessions, { realm: 'app', role: 'public' })).toBe(0);
    expect(before).toContain('# TYPE bulwark_router_sessions gauge');
    const a = await abConnect({ url: url(), realm: 'app' });
    const b = await abConnect({ url: url(), realm: 'app' });
    const c = await abConnect({ url: url(), realm: 'app', authid: 'alice', authmethods: ['ticket'], onchallenge: () => 'alice-ticket-secret' });
    const during = await scrape();
    expect(value(during, ROUTER_METRICS.sessions, { realm: 'app', role: 'public' })).toBe(2);
    expect(value(during, ROUTER_METRICS.sessions, { realm: 'app', role: 'backend' })).toBe(1);
    expect(value(during, ROUTER_METRICS.connections)).toBeGreaterThanOrEqual(3);
    expect(value(during, ROUTER_METRICS.messages, { type: 'HELLO' })).toBeGreaterThanOrEqual(3);
    expect(value(during, ROUTER_METRICS.messages, { type: 'AUTHENTICATE' })).toBeGreaterThanOrEqual(1);
    // a call to a procedure nobody registered: counted by error URI
    await expect(a.session.call('com.example.nobody')).rejects.toBeTruthy();
    const afterCall = await scrape();
    expect(value(afterCall, ROUTER_METRICS.errors, { uri: 'wamp.error.no_such_procedure' })).toBe(1);
    expect(value(afterCall, ROUTER_METRICS.messages, { type: 'CALL' })).toBe(1);
    expect(afterCall).toMatch(/^bulwark_router_outbound_queue_bytes \d+$/m);
    await closeAb(a);
    await closeAb(b);
    await closeAb(c);
    let after = '';
    for (let i = 0; i < 100; i++) {
      after = await scrape();
      if (value(after, ROUTER_METRICS.sessions, { realm: 'app' }) === 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(value(after, ROUTER_METRICS.sessions, { realm: 'app', role: 'public' })).toBe(0);
    expect(value(after, ROUTER_METRICS.sessions, { realm: 'app', role: 'backend' })).toBe(0);
  });

  it('a bad ticket increments auth failures for ticket and logs one security event', async () => {
    const before = value(await scrape(), ROUTER_METRICS.authFailures, { method: 'ticket' });
    const logged = mem.lines.filter((l) => l.event === 'auth.failed').length;
    await expect(abConnect({ url: url(), realm: 'app', authid: 'alice', authmethods: ['ticket'], onchallenge: () => 'wrong' })).rejects.toThrow(/authentication_failed/);
    const text = await scrape();
    expect(value(text, ROUTER_METRICS.authFailures, { method: 'ticket' })).toBe(before + 1);
    expect(value(text, ROUTER_METRICS.authFailures, { method: 'cryptosign' })).toBe(0);
    const events = mem.lines.filter((l) => l.event === 'auth.failed');
    expect(events.length).toBe(logged + 1);
    expect(events.at(-1)).toMatchObject({ level: 40, method: 'ticket', authid: 'alice' });
    expect(JSON.stringify(events.at(-1))).not.toContain('wrong');
  });
});
