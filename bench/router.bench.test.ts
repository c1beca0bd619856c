import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { cbor } from '../src/router/wamp/serializers.js';
import { caller, echoCallee, rawsocketClient, websocketClient, type BenchClient } from './router-client.js';

// Router benchmarks. The router runs as its own process (from dist/, like in production); clients are
// minimal CBOR clients in this process. Every figure sits next to a baseline from the same run:
// RPC next to a raw Node Unix-socket echo of the same frames (goal: >= 0.5x its throughput), events
// next to nats-server with the npm `nats` client (goal: >= 1x). Prints `BENCH {json}` lines and a table.
const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'bwb-rt-'));
const f = (n: string) => join(dir, n);
const procs: ChildProcess[] = [];
const clients: BenchClient[] = [];
const report = (o: object) => console.log(`BENCH ${JSON.stringify(o)}`);
const rows: string[] = [];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ARGS = ['x'.repeat(100)];
let routerPid = 0;
let wssPort = 0;

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function waitFor(fn: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  // ROUTER_BENCH_DIST=/other/build/dist runs another build of the router (A/B against an older commit)
  const main = join(process.env.ROUTER_BENCH_DIST ?? join(ROOT, 'dist'), 'src/cli/main.js');
  if (!existsSync(main)) throw new Error('run `make build` first');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('key.pem'), '-out', f('cert.pem'), '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  wssPort = await freePort();
  writeFileSync(
    f('router.yaml'),
    [
      'realms: [{ name: app, roles: [{ name: bench, permissions: [{ uri: bench., match: prefix, call: true, register: true, publish: true, subscribe: true }] }] }]',
      'listeners:',
      `  - { type: rawsocket, path: ${f('router.sock')}, component: bench }`,
      `  - { type: websocket, host: 127.0.0.1, port: ${wssPort}, auth: [anonymous], helloRate: { perSecond: 100000, burst: 100000 }, tls: { cert: ${f('cert.pem')}, key: ${f('key.pem')} } }`,
      'components: [{ name: bench, realm: app, role: bench }]',
      'auth: { anonymous: { role: bench } }',
    ].join('\n'),
  );
  // ROUTER_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the router (written at its SIGTERM exit)
  const nodeArgs = (process.env.ROUTER_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const router = spawn(process.execPath, [...nodeArgs, main, 'router', '--config', f('router.yaml')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BULWARK_LOG_LEVEL: 'warn' } });
  procs.push(router);
  routerPid = router.pid!;
  await waitFor(() => existsSync(f('router.sock')), 10_000, 'router socket');
  // the raw echo baseline: a Node process echoing RawSocket frames on a Unix socket
  const echo = spawn(process.execPath, ['-e', `require('net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); }).listen(${JSON.stringify(f('echo.sock'))})`], { stdio: 'inherit' });
  procs.push(echo);
  await waitFor(() => existsSync(f('echo.sock')), 10_000, 'echo socket');
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  const router = procs[0];
  if (router && router.exitCode === null) {
    // a clean stop (lets a --cpu-prof router write its profile), then the hard kill below
    const exited = new Promise((r) => router.once('exit', r));
    router.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  console.log(['', 'router bench (ratio = router / baseline of the same run)', ...rows].join('\n'));
});

/** The raw echo: same CBOR CALL frames over a Unix socket, one Node process echoing them. */
function echoClient(): Promise<(payload: Buffer) => Promise<void>> {
  return new Promise((resolveClient) => {
    const s = netConnect(f('echo.sock'));
    s.setNoDelay(true);
    const waiting: (() => void)[] = [];
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 4) {
        const len = buf.readUIntBE(1, 3);
        if (buf.length < 4 + len) break;
        cbor.decode(buf.subarray(4, 4 + len));
        buf = buf.subarray(4 + len);
        waiting.shift()?.();
      }
    });
    s.on('connect', () =>
      resolveClient(
        (payload) =>
          new Promise<void>((res) => {
            waiting.push(res);
            const h = Buffer.alloc(4);
            h.writeUIntBE(payload.length, 1, 3);
            s.write(Buffer.concat([h, payload]));
          }),
      ),
    );
  });
}

/** The router process's CPU time so far (user + system), in µs (from /proc, 10 ms resolution). */
function routerCpuUs(): number {
  const f = readFileSync(`/proc/${routerPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}

async function rpcFigures(call: () => Promise<unknown>): Promise<{ p50: number; p99: number; perSec: number; routerCpuUsPerOp: number; clientCpuUsPerOp: number }> {
  const lat: number[] = [];
  for (let i = 0; i < 300; i++) await call(); // warm-up
  for (let i = 0; i < 3000; i++) {
    const t = process.hrtime.bigint();
    await call();
    lat.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const N = 30_000;
  const inflight = 64;
  let done = 0;
  const cpu0 = routerCpuUs();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (done < N) {
        done++;
        await call();
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: Math.round(N / secs), routerCpuUsPerOp: +((routerCpuUs() - cpu0) / N).toFixed(2), clientCpuUsPerOp: +(((u) => u.user + u.system)(process.cpuUsage(own0)) / N).toFixed(2) };
}

it('RPC round trips: RawSocket-CBOR (Unix) and WebSocket-TLS vs raw Unix-socket echo', async () => {
  const payload = cbor.encode([48, 12345, {}, 'bench.echo', ARGS]);
  const echo = await echoClient();
  const base = await rpcFigures(() => echo(payload));
  report({ bench: 'rpc', transport: 'raw-unix-echo', ...base });

  const callee = rawsocketClient(f('router.sock'));
  clients.push(callee);
  await echoCallee(callee, 'bench.echo');
  for (const [name, c] of [
    ['rawsocket-cbor-unix', rawsocketClient(f('router.sock'))],
    ['websocket-tls-cbor', websocketClient(`wss://127.0.0.1:${wssPort}/`, readFileSync(f('cert.pem')))],
  ] as const) {
    clients.push(c);
    await c.ready;
    const call = caller(c);
    const fig = await rpcFigures(() => call('bench.echo', ARGS));
    report({ bench: 'rpc', transport: name, ...fig, throughputRatioVsEcho: +(fig.perSec / base.perSec).toFixed(2) });
    rows.push(
      `rpc ${name.padEnd(22)} p50 ${fig.p50.toFixed(0)} µs (echo ${base.p50.toFixed(0)})  p99 ${fig.p99.toFixed(0)} µs (echo ${base.p99.toFixed(0)})  ${fig.perSec} calls/s = ${(fig.perSec / base.perSec).toFixed(2)}x echo ${base.perSec}/s (goal >= 0.5x); CPU µs/call: router ${fig.routerCpuUsPerOp}, bench client ${fig.clientCpuUsPerOp} (echo's ${base.clientCpuUsPerOp})`,
    );
    expect(fig.perSec).toBeGreaterThan(0);
  }
});

async function natsEvents(subs: number, n: number): Promise<number> {
  const port = await freePort();
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  procs.push(server);
  let pub: NatsConnection | undefined;
  const conns: NatsConnection[] = [];
  try {
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        pub = await natsConnect({ servers: `127.0.0.1:${port}` });
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    let got = 0;
    for (let i = 0; i < subs; i++) {
      const c = await natsConnect({ servers: `127.0.0.1:${port}` });
      conns.push(c);
      c.subscribe('bench.topic', { callback: () => void got++ });
      await c.flush();
    }
    const data = cbor.encode(ARGS);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) pub.publish('bench.topic', data);
    await pub.flush();
    await waitFor(() => got >= n * subs, 120_000, 'nats deliveries');
    return Math.round((n * subs) / (Number(process.hrtime.bigint() - t0) / 1e9));
  } finally {
    await Promise.all([...conns, ...(pub ? [pub] : [])].map((c) => c.close()));
    server.kill('SIGKILL');
  }
}

async function routerEvents(subs: number, n: number): Promise<{ perSec: number; cpuUsPerDelivery: number; clientCpuUsPerDelivery: number }> {
  let got = 0;
  const subscribers: BenchClient[] = [];
  for (let i = 0; i < subs; i++) {
    const c = rawsocketClient(f('router.sock'));
    subscribers.push(c);
    await c.ready;
    await new Promise<void>((res) => {
      c.onMessage = (m) => {
        if (m[0] === 33) res();
        else if (m[0] === 36) got++;
      };
      c.send([32, 1, {}, 'bench.topic']);
    });
  }
  const pub = rawsocketClient(f('router.sock'));
  await pub.ready;
  const cpu0 = routerCpuUs();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) pub.send([16, i + 1, {}, 'bench.topic', ARGS]);
  await waitFor(() => got >= n * subs, 120_000, `router deliveries (${got}/${n * subs})`);
  const perSec = Math.round((n * subs) / (Number(process.hrtime.bigint() - t0) / 1e9));
  const cpuUsPerDelivery = +((routerCpuUs() - cpu0) / (n * subs)).toFixed(2);
  const own = process.cpuUsage(own0);
  for (const c of [...subscribers, pub]) c.close();
  return { perSec, cpuUsPerDelivery, clientCpuUsPerDelivery: +((own.user + own.system) / (n * subs)).toFixed(2) };
}

it('events/s to 1 and 100 subscribers vs nats-server', async () => {
  for (const [subs, n] of [
    [1, 50_000],
    [100, 2_000],
  ] as const) {
    const { perSec: router, cpuUsPerDelivery, clientCpuUsPerDelivery } = await routerEvents(subs, n);
    const nats = await natsEvents(subs, n);
    report({ bench: 'events', subscribers: subs, published: n, routerPerSec: router, natsPerSec: nats, ratio: +(router / nats).toFixed(2), routerCpuUsPerDelivery: cpuUsPerDelivery, benchClientCpuUsPerDelivery: clientCpuUsPerDelivery });
    rows.push(`events to ${String(subs).padStart(3)} subscriber(s): ${router} deliveries/s = ${(router / nats).toFixed(2)}x nats-server ${nats}/s (goal >= 1x); CPU µs/delivery: router ${cpuUsPerDelivery}, bench clients ${clientCpuUsPerDelivery}`);
    expect(router).toBeGreaterThan(0);
  }
});

it('RSS with 10 000 idle sessions', async () => {
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${routerPid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  const before = rss();
  const idle: BenchClient[] = [];
  for (let i = 0; i < 10_000; i += 500) {
    const batch = Array.from({ length: 500 }, () => rawsocketClient(f('router.sock')));
    idle.push(...batch);
    await Promise.all(batch.map((c) => c.ready));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss();
  report({ bench: 'idle-sessions', sessions: idle.length, rssBeforeMiB: +(before / 2 ** 20).toFixed(1), rssMiB: +(after / 2 ** 20).toFixed(1) });
  rows.push(`10 000 idle sessions: router RSS ${(after / 2 ** 20).toFixed(0)} MiB (was ${(before / 2 ** 20).toFixed(0)} MiB; goal < 500 MiB)`);
  for (const c of idle) c.close();
  expect(after).toBeLessThan(500 * 2 ** 20);
});
