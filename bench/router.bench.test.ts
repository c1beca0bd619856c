import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { cbor } from '../src/router/wamp/serializers.js';
import { buildSync } from 'esbuild';
import { caller, publishMany, publishManyWs, rawsocketClient, websocketClient, type BenchClient } from './router-client.js';

// Router benchmarks. The router runs as its own process (from dist/, like in production). Three
// processes per figure, as in a deployment: the router, the caller/publisher (this process) and the
// callee/subscribers (a child running bench/router-peer.mjs). Every figure sits next to a baseline of the
// same shape from the same run: RPC next to a raw Node Unix-socket echo of the same frames served by its
// own process (goal: >= 0.5x its throughput), events next to nats-server with the npm `nats` client,
// subscribers likewise in a child process (goal: >= 1x).
// - The WAMP clients are load generators that do what the baselines' clients do (router-client.ts), so
//   a ratio measures the router, and every row shows each process's CPU per operation.
// - Calls/s is each side's best of 64, 256 and 1000 calls in flight (its saturation throughput), timed
//   over a window at steady state (after a settling time); p50/p99 are one call at a time.
// - WebSocket-TLS is measured as deployed (a public caller over WSS, the callee a backend component on
//   its Unix socket; a backend publishing on its Unix socket to public subscribers over WSS) and with both
//   legs over WSS. Its clients offer no permessage-deflate, and send what one pass of their event loop
//   issues in one TLS write (the calls a batch of results lets go, a batch's YIELDs or PUBLISHes), as the
//   RawSocket clients' writes meet in the kernel's socket buffer and the nats client batches its own.
// - Baseline and router alternate ROUNDS times in one run and the table shows the median round with every
//   round's ratio (drift on a shared host then hits both sides alike).
// Prints `BENCH {json}` lines and a table.
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
let echoPid = 0;
let wssPort = 0;
// router-peer.mjs bundled with router-client.ts; kept under node_modules so its imports resolve
const peerScript = join(ROOT, 'node_modules/.cache/bulwark-bench', `router-peer-${process.pid}.mjs`);

/** Starts bench/router-peer.mjs in its own process; resolves once it reports ready. */
function peer(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [peerScript, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  procs.push(child);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`peer ${args[0]}: not ready in 60 s`)), 60_000);
    child.on('message', (m: { ready?: boolean }) => {
      if (m.ready) {
        clearTimeout(timer);
        res(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`peer ${args[0]} exited with ${code}`));
    });
  });
}

/** Stops a peer and waits for it to be gone (so it cannot steal CPU from the next figure). */
async function stopPeer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Resolves with the peer's {done} message (all expected events delivered). */
function peerDone(child: ChildProcess, ms: number, what: string): Promise<void> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms);
    child.on('message', (m: { done?: boolean }) => {
      if (m.done) {
        clearTimeout(timer);
        res();
      }
    });
  });
}

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
  buildSync({ entryPoints: [join(ROOT, 'bench/router-peer.mjs')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: peerScript, logLevel: 'warning' });
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f('key.pem'),
      '-out',
      f('cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
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
      // the slow-consumer allowance of nats-server's default (max_pending 64 MB): the publishers here
      // run open loop on both sides, so each server must hold what its subscriber has not read yet
      'limits: { maxOutboundQueueBytes: 67108864 }',
    ].join('\n'),
  );
  // ROUTER_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the router (written at its SIGTERM exit)
  const nodeArgs = (process.env.ROUTER_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const router = spawn(process.execPath, [...nodeArgs, main, 'router', '--config', f('router.yaml')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BULWARK_LOG_LEVEL: 'warn' } });
  procs.push(router);
  routerPid = router.pid!;
  await waitFor(() => existsSync(f('router.sock')), 10_000, 'router socket');
  // the raw echo baseline: a Node process echoing RawSocket frames on a Unix socket
  const echo = spawn(process.execPath, ['-e', `require('net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); }).listen(${JSON.stringify(f('echo.sock'))})`], {
    stdio: 'inherit',
  });
  procs.push(echo);
  echoPid = echo.pid!;
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
  rmSync(peerScript, { force: true });
  console.log(['', 'router bench (ratio = router / baseline of the same run)', ...rows].join('\n'));
});

/** The raw echo: same CBOR CALL frames over a Unix socket, one Node process echoing them. */
function echoClient(): Promise<(payload: Buffer) => Promise<void>> {
  return new Promise((resolveClient) => {
    const s = netConnect(f('echo.sock'));
    s.setNoDelay(true);
    const waiting: (() => void)[] = [];
    let buf: Buffer = Buffer.alloc(0);
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

/** A process's CPU time so far (user + system), in µs (from /proc, 10 ms resolution). */
function cpuUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}
/** A process's kernel-side CPU time so far, in µs. */
function sysUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[12]) * 1e6) / 100;
}
const routerCpuUs = () => cpuUs(routerPid);
/** A process's read and write system calls so far (from /proc/PID/io). */
function syscalls(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/syscr: (\d+)/.exec(io)![1]) + Number(/syscw: (\d+)/.exec(io)![1]);
}

/** n calls, `inflight` at a time. */
async function pipelined(call: () => Promise<unknown>, n: number, inflight: number): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (started < n) {
        started++;
        await call();
      }
    }),
  );
}

/**
 * Calls in flight at once for the throughput figures; a side's calls/s is its best level (its saturation).
 * At most the router's default limit of pending calls per session (1000): beyond it calls are refused.
 */
const INFLIGHT = (process.env.ROUTER_BENCH_INFLIGHT ?? '64,256,1000').split(',').map(Number);

type Throughput = {
  inflight: number;
  perSec: number;
  routerCpuUsPerOp: number;
  clientCpuUsPerOp: number;
  calleeCpuUsPerOp: number;
  routerBusy: number;
  routerSysShare: number;
  syscallsPerOp: { router: number; client: number; far: number };
};

/**
 * Calls/s at `inflight` calls in flight, measured at steady state: the callers start together (in one
 * burst) and run for a settling time first, then a window is timed with every process's CPU and
 * read/write system calls per call; then the callers stop and their last calls drain.
 */
async function throughput(call: () => Promise<unknown>, farPid: number, inflight: number): Promise<Throughput> {
  let stop = false;
  let done = 0;
  const loops = Array.from({ length: inflight }, async () => {
    while (!stop) {
      await call();
      done++;
    }
  });
  await sleep(SETTLE_MS);
  const cpu0 = routerCpuUs();
  const sys0 = sysUs(routerPid);
  const far0 = cpuUs(farPid);
  const farSys0 = syscalls(farPid);
  const routerSys0 = syscalls(routerPid);
  const ownSys0 = syscalls(process.pid);
  const own0 = process.cpuUsage();
  const done0 = done;
  const t0 = process.hrtime.bigint();
  await sleep(WINDOW_MS);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = done - done0;
  const own = process.cpuUsage(own0);
  const routerUs = routerCpuUs() - cpu0;
  const farUs = cpuUs(farPid) - far0;
  const sys = { router: syscalls(routerPid) - routerSys0, client: syscalls(process.pid) - ownSys0, far: syscalls(farPid) - farSys0 };
  const routerSysUs = sysUs(routerPid) - sys0;
  stop = true;
  await Promise.all(loops);
  const per = (x: number) => +(x / n).toFixed(2);
  return {
    inflight,
    perSec: Math.round(n / secs),
    routerCpuUsPerOp: per(routerUs),
    clientCpuUsPerOp: per(own.user + own.system),
    calleeCpuUsPerOp: per(farUs),
    routerBusy: +(routerUs / (secs * 1e6)).toFixed(2),
    routerSysShare: +(routerSysUs / Math.max(1, routerUs)).toFixed(2),
    syscallsPerOp: { router: per(sys.router), client: per(sys.client), far: per(sys.far) },
  };
}
const SETTLE_MS = Number(process.env.ROUTER_BENCH_SETTLE_MS ?? 300);
const WINDOW_MS = Number(process.env.ROUTER_BENCH_WINDOW_MS ?? 700);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** farPid: the process answering the calls (the callee, or the echo server for the baseline). */
async function rpcFigures(call: () => Promise<unknown>, farPid: number): Promise<Throughput & { p50: number; p99: number; perSecByInflight: Record<number, number> }> {
  const lat: number[] = [];
  // warm-up, the same for every figure: sequential, then pipelined (lets the JIT settle on the hot path)
  for (let i = 0; i < 300; i++) await call();
  await pipelined(call, 10_000, 64);
  for (let i = 0; i < 3000; i++) {
    const t = process.hrtime.bigint();
    await call();
    lat.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const levels: Throughput[] = [];
  for (const n of INFLIGHT) levels.push(await throughput(call, farPid, n));
  const best = levels.reduce((x, y) => (y.perSec > x.perSec ? y : x));
  return { ...best, p50: pct(lat, 50), p99: pct(lat, 99), perSecByInflight: Object.fromEntries(levels.map((l) => [l.inflight, l.perSec])) };
}

/** The middle round by ratio: the bench alternates baseline and router ROUNDS times (drift hits both). */
const ROUNDS = Number(process.env.ROUTER_BENCH_ROUNDS ?? 5);
function median<T extends { ratio: number }>(rounds: T[]): T {
  return [...rounds].sort((x, y) => x.ratio - y.ratio)[Math.floor(rounds.length / 2)]!;
}
const ratios = (rounds: { ratio: number }[]) => rounds.map((r) => r.ratio.toFixed(2)).join(', ');

it('RPC round trips: RawSocket-CBOR (Unix) and WebSocket-TLS vs raw Unix-socket echo', async () => {
  const payload = cbor.encode([48, 12345, {}, 'bench.echo', ARGS]);
  const echo = await echoClient();
  // caller here, callee in its own process over the same transport (its own procedure per transport)
  const ca = f('cert.pem');
  const wss = `wss://127.0.0.1:${wssPort}/`;
  const transports = [
    ['rawsocket-cbor-unix', 'rawsocket', f('router.sock'), 'bench.echo.rawsocket', () => rawsocketClient(f('router.sock'))],
    // a public client over WebSocket-TLS calling a backend component on its Unix socket (the deployed path)
    ['websocket-tls-cbor', 'rawsocket', f('router.sock'), 'bench.echo.websocket', () => websocketClient(wss, readFileSync(ca), { corkPerTick: true })],
    // both legs over WebSocket-TLS (a callee that is itself a public client)
    ['websocket-tls-cbor-both-legs', 'websocket', wss, 'bench.echo.websocket2', () => websocketClient(wss, readFileSync(ca), { corkPerTick: true })],
  ] as const;
  // ROUTER_BENCH_RPC=rawsocket-cbor-unix runs that transport only (to profile one path)
  const only = process.env.ROUTER_BENCH_RPC;
  const callees: ChildProcess[] = [];
  try {
    const callers: { name: string; callee: ChildProcess; call: () => Promise<unknown[]> }[] = [];
    for (const [name, transport, addr, proc, c] of transports) {
      if (only && name !== only) continue;
      const callee = await peer(['callee', transport, addr, proc, ca]);
      callees.push(callee);
      const client = c();
      clients.push(client);
      await client.ready;
      callers.push({ name, callee, call: caller(client, proc, ARGS) });
    }
    type Round = Awaited<ReturnType<typeof rpcFigures>> & { ratio: number; base: Awaited<ReturnType<typeof rpcFigures>> };
    const rounds = new Map<string, Round[]>(callers.map((c) => [c.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const base = await rpcFigures(() => echo(payload), echoPid);
      report({ bench: 'rpc', transport: 'raw-unix-echo', round: r + 1, ...base });
      for (const c of callers) {
        const fig = await rpcFigures(c.call, c.callee.pid!);
        report({ bench: 'rpc', transport: c.name, round: r + 1, ...fig, throughputRatioVsEcho: +(fig.perSec / base.perSec).toFixed(2) });
        rounds.get(c.name)!.push({ ...fig, ratio: fig.perSec / base.perSec, base });
      }
    }
    for (const c of callers) {
      const all = rounds.get(c.name)!;
      const fig = median(all);
      const base = fig.base;
      rows.push(
        `rpc ${c.name.padEnd(28)} p50 ${fig.p50.toFixed(0)} µs (echo ${base.p50.toFixed(0)})  p99 ${fig.p99.toFixed(0)} µs (echo ${base.p99.toFixed(0)})  ${fig.perSec} calls/s (${fig.inflight} in flight) = ${fig.ratio.toFixed(2)}x echo ${base.perSec}/s (${base.inflight}) (goal >= 0.5x: ${fig.ratio >= 0.5 ? 'met' : 'NOT met'}; rounds ${ratios(all)}); CPU µs/call: router ${fig.routerCpuUsPerOp}, caller ${fig.clientCpuUsPerOp} (echo's ${base.clientCpuUsPerOp}), callee process ${fig.calleeCpuUsPerOp} (echo server's ${base.calleeCpuUsPerOp}); router busy ${Math.round(fig.routerBusy * 100)}% (${Math.round(fig.routerSysShare * 100)}% of it in the kernel)`,
      );
      expect(fig.perSec).toBeGreaterThan(0);
    }
  } finally {
    for (const c of callees) await stopPeer(c);
  }
});

type EventFigures = { perSec: number; subscriberCpuUsPerDelivery: number; publisherCpuUsPerDelivery: number; serverCpuUsPerDelivery: number };

/** Publishes n events from this process; the subscribers run in a peer process; timed until it has them all. */
async function timeDeliveries(serverPid: number, subscribers: ChildProcess, total: number, what: string, publish: () => Promise<void>): Promise<EventFigures & { secs: number }> {
  const done = peerDone(subscribers, 120_000, what);
  const server0 = cpuUs(serverPid);
  const sub0 = cpuUs(subscribers.pid!);
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await publish();
  await done;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const own = process.cpuUsage(own0);
  return {
    secs,
    perSec: Math.round(total / secs),
    serverCpuUsPerDelivery: +((cpuUs(serverPid) - server0) / total).toFixed(2),
    subscriberCpuUsPerDelivery: +((cpuUs(subscribers.pid!) - sub0) / total).toFixed(2),
    publisherCpuUsPerDelivery: +((own.user + own.system) / total).toFixed(2),
  };
}

async function natsEvents(subs: number, n: number): Promise<EventFigures> {
  const port = await freePort();
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  procs.push(server);
  let pub: NatsConnection | undefined;
  let subscribers: ChildProcess | undefined;
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
    subscribers = await peer(['nats-subscribers', String(port), String(subs), String(n * subs)]);
    const data = cbor.encode(ARGS);
    const p = pub;
    const { secs: _, ...fig } = await timeDeliveries(server.pid!, subscribers, n * subs, 'nats deliveries', async () => {
      for (let i = 0; i < n; i++) p.publish('bench.topic', data);
      await p.flush();
    });
    return fig;
  } finally {
    if (subscribers) await stopPeer(subscribers);
    await pub?.close();
    server.kill('SIGKILL');
  }
}

type Leg = 'rawsocket' | 'websocket';

/** Events through the router: publisher and subscribers each on the Unix socket (RawSocket-CBOR) or over WSS. */
async function routerEvents(pubLeg: Leg, subLeg: Leg, subs: number, n: number): Promise<EventFigures> {
  const wss = `wss://127.0.0.1:${wssPort}/`;
  const subscribers = await peer(
    subLeg === 'rawsocket' ? ['router-subscribers', f('router.sock'), String(subs), String(n * subs)] : ['router-subscribers', wss, String(subs), String(n * subs), f('cert.pem')],
  );
  const rs = pubLeg === 'rawsocket' ? rawsocketClient(f('router.sock')) : undefined;
  const pub = rs ?? websocketClient(wss, readFileSync(f('cert.pem')), { corkPerTick: true });
  try {
    await pub.ready;
    const { secs: _, ...fig } = await timeDeliveries(routerPid, subscribers, n * subs, 'router deliveries', async () => {
      if (rs) publishMany(rs, 'bench.topic', ARGS, n);
      else await publishManyWs(pub, 'bench.topic', ARGS, n);
    });
    return fig;
  } finally {
    pub.close();
    await stopPeer(subscribers);
  }
}

it('events/s to 1 and 100 subscribers, over RawSocket-CBOR (Unix) and WebSocket-TLS, vs nats-server', async () => {
  // ROUTER_BENCH_SUBS=1 or ROUTER_BENCH_EVENTS=NAME runs that fan-out or shape only (to profile one path)
  const onlySubs = process.env.ROUTER_BENCH_SUBS;
  const onlyShape = process.env.ROUTER_BENCH_EVENTS;
  const shapes = [
    ['rawsocket-cbor-unix', 'rawsocket', 'rawsocket'],
    // a backend component publishing on its Unix socket to public subscribers over WebSocket-TLS (deployed)
    ['websocket-tls-cbor', 'rawsocket', 'websocket'],
    // the publisher a public client over WebSocket-TLS too
    ['websocket-tls-cbor-both-legs', 'websocket', 'websocket'],
  ] as const;
  for (const [name, pubLeg, subLeg] of shapes) {
    if (onlyShape && onlyShape !== name) continue;
    // 200 000 deliveries per round either way: long enough for both sides' clients to reach steady state
    // (with 50 000 the nats client was still warming up and the ratio flattered the router)
    for (const [subs, n] of [
      [1, 200_000],
      [100, 2_000],
    ] as const) {
      if (onlySubs && Number(onlySubs) !== subs) continue;
      // each side gets one untimed round first (JIT warm-up for the router and both sides' clients), then
      // ROUNDS alternating pairs
      await routerEvents(pubLeg, subLeg, subs, n);
      await natsEvents(subs, n);
      const all: { ratio: number; r: EventFigures; nf: EventFigures }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const r = await routerEvents(pubLeg, subLeg, subs, n);
        const nf = await natsEvents(subs, n);
        all.push({ ratio: r.perSec / nf.perSec, r, nf });
        report({
          bench: 'events',
          transport: name,
          subscribers: subs,
          published: n,
          round: i + 1,
          routerPerSec: r.perSec,
          natsPerSec: nf.perSec,
          ratio: +(r.perSec / nf.perSec).toFixed(2),
          routerCpuUsPerDelivery: r.serverCpuUsPerDelivery,
          natsServerCpuUsPerDelivery: nf.serverCpuUsPerDelivery,
          publisherCpuUsPerDelivery: r.publisherCpuUsPerDelivery,
          subscriberCpuUsPerDelivery: r.subscriberCpuUsPerDelivery,
          natsPublisherCpuUsPerDelivery: nf.publisherCpuUsPerDelivery,
          natsSubscriberCpuUsPerDelivery: nf.subscriberCpuUsPerDelivery,
        });
      }
      const { r, nf, ratio } = median(all);
      const [router, nats] = [r.perSec, nf.perSec];
      rows.push(
        `events ${name.padEnd(28)} to ${String(subs).padStart(3)}: ${router} deliveries/s = ${ratio.toFixed(2)}x nats-server ${nats}/s (goal >= 1x: ${ratio >= 1 ? 'met' : 'NOT met'}; rounds ${ratios(all)}); CPU µs/delivery: router ${r.serverCpuUsPerDelivery} (nats-server ${nf.serverCpuUsPerDelivery}), publisher ${r.publisherCpuUsPerDelivery} (nats ${nf.publisherCpuUsPerDelivery}), subscriber process ${r.subscriberCpuUsPerDelivery} (nats ${nf.subscriberCpuUsPerDelivery})`,
      );
      expect(router).toBeGreaterThan(0);
    }
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
  rows.push(`10 000 idle sessions: router RSS ${(after / 2 ** 20).toFixed(0)} MiB (was ${(before / 2 ** 20).toFixed(0)} MiB; goal < 500 MiB: ${after < 500 * 2 ** 20 ? 'met' : 'NOT met'})`);
  for (const c of idle) c.close();
  expect(after).toBeLessThan(500 * 2 ** 20);
});
