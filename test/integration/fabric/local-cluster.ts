import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import type { RouterConfigInput } from '../../../src/router/config.js';
import { memoryLogger, tempDir } from '../router/helpers.js';

import { hashTicket } from '../../../src/router/index.js';

/** Ticket `pub-secret` for authid `pub` (role public). */
export const PUBLIC_HASH = hashTicket('pub-secret');

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Waits until `port` on `host` accepts TCP connections. */
export async function waitPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, host);
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${host}:${port} not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One nats-server (JetStream on) on 127.0.0.1 for in-process routers. */
export async function startNats(dir: string, fixedPort?: number): Promise<{ url: string; port: number; proc: ChildProcess; stop(): Promise<void> }> {
  const port = fixedPort ?? (await freePort());
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  const proc = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
  await waitPort(port);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** The realm every fabric test node serves: backend may do everything, public may call and subscribe only. */
export function fabricRealm() {
  return {
    name: 'app',
    roles: [
      {
        name: 'backend',
        permissions: [
          { uri: 'com.example.', match: 'prefix' as const, call: true, register: true, publish: true, subscribe: true },
          { uri: 'wamp.', match: 'prefix' as const, call: true, subscribe: true },
        ],
      },
      {
        name: 'public',
        permissions: [
          { uri: 'com.example.', match: 'prefix' as const, call: true, subscribe: true },
          { uri: 'com.example.secret', match: 'exact' as const },
        ],
      },
    ],
  };
}

export function fabricRouterConfig(node: string, natsUrl: string, extra: Partial<NonNullable<RouterConfigInput>> = {}): RouterConfigInput {
  return {
    realms: [fabricRealm()],
    listeners: [{ type: 'rawsocket', host: '127.0.0.1', port: 0, auth: ['anonymous', 'ticket'] }],
    auth: { anonymous: { role: 'backend' }, ticket: [{ authid: 'pub', realm: 'app', role: 'public', hash: PUBLIC_HASH }] },
    fabric: { node, nats: { url: natsUrl }, heartbeatMs: 250, deadAfterMs: 3000 },
    ...extra,
  };
}

/**
 * N routers in this process (n1..nN; `extra` goes into each one's config), one nats-server: the fast way to
 * check fabric semantics. `addNode` starts one more (a node joining late).
 */
export async function localCluster(n: number, extra: Partial<NonNullable<RouterConfigInput>> = {}) {
  const tmp = tempDir('bwt-fabric-');
  const nats = await startNats(tmp.dir);
  const mem = memoryLogger('warn');
  const routers: RunningRouter[] = [];
  const addNode = async (name: string): Promise<RunningRouter> => {
    const r = await startRouter(fabricRouterConfig(name, nats.url, extra), { log: mem.log });
    routers.push(r);
    return r;
  };
  for (let i = 1; i <= n; i++) await addNode(`n${i}`);
  return {
    routers,
    nats,
    mem,
    addNode,
    async close() {
      await Promise.all(routers.map((r) => r.close()));
      await nats.stop();
      tmp.cleanup();
    },
  };
}
