import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { caller, countEvents, echoCallee, publishMany, rawsocketClient, type BenchClient } from './router-client.js';

// The router fabric across two nodes on this host: two nats-servers joined by a route (127.0.0.1), two
// router processes (dist/, like production), n1's on the first server, n2's on the second. Clients run
// in this process (RawSocket-CBOR on each router's Unix socket, bench/router-client.ts); the baselines
// are the npm nats client on the same two servers (requester/publisher on the first, responder and
// subscribers on the second), so each ratio compares the same hop: WAMP across the fabric vs plain NATS.
// Figures: cross-node RPC calls/s vs NATS request/reply (goal >= 0.5x) and p50/p99 one call at a time;
// events 1->1 and 1->100 vs NATS pub/sub (goal >= 0.8x); same-node RPC on a fabric node vs a router
// without fabric (goal >= 0.9x); time from SIGKILL of n2 (router + nats-server) to its registration
// gone on n1 (goal <= 3 s). Prints `BENCH {json}` lines and a table. FABRIC_BENCH_CPU_PROF=DIR: the routers
// write CPU profiles (n1/n2/solo.cpuprofile) there.
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'bwb-fab-'));
const f = (n: string) => join(dir, n);
const procs: ChildProcess[] = [];
const clients: BenchClient[] = [];
const ncs: NatsConnection[] = [];
const rows: string[] = [];
const report = (o: object) => console.log(`BENCH ${JSON.stringify(o)}`);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ARGS = ['x'.repeat(100)];
const WINDOW_MS = Number(process.env.FABRIC_BENCH_WINDOW_MS ?? 1500);
const EVENTS = Number(process.env.FABRIC_BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.FABRIC_BENCH_ROUNDS ?? 7);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let natsPorts: number[] = [];
const routers = new Map<string, ChildProcess>();

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

function startRouter(name: string, natsPort: number | undefined): Promise<void> {
  const cfg = {
    realms: [{ name: 'app', roles: [{ name: 'backend', permissions: [{ uri: '', match: 'prefix', call: true, register: true, publish: true, subscribe: true }] }] }],
    listeners: [{ type: 'rawsocket', path: f(`${name}.sock`), auth: ['anonymous'], helloRate: { perSecond: 10_000, burst: 10_000 } }],
    auth: { anonymous: { role: 'backend' } },
    limits: { maxOutboundQueueBytes: 256 * 1024 * 1024 },
    ...(natsPort ? { fabric: { node: name, nats: { url: `nats://127.0.0.1:${natsPort}` }, heartbeatMs: 500, deadAfterMs: 2000 } } : {}),
  };
  writeFileSync(f(`${name}.json`), JSON.stringify(cfg));
  const log = openSync(f(`${name}.log`), 'a');
  const prof = process.env.FABRIC_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.FABRIC_BENCH_CPU_PROF), '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const p = spawn(process.execPath, [...prof, CLI, 'router', '--config', f(`${name}.json`)], { stdio: ['ignore', log, log], env: { ...process.env, BULWARK_LOG_LEVEL: 'warn' } });
  procs.push(p);
  routers.set(name, p);
  return until(() => existsSync(f(`${name}.sock`)), 15_000, `router ${name}`);
}

async function session(name: string): Promise<BenchClient & { sendFrames(b: Buffer): void }> {
  const c = rawsocketClient(f(`${name}.sock`));
  clients.push(c);
  await c.ready;
  return c;
}

async function subscribe(c: BenchClient, topic: string): Promise<void> {
  await new Promise<void>((res) => {
    const prev = c.onMessage;
    c.onMessage = (m) => {
      if (m[0] === 33) {
        c.onMessage = prev;
        res();
      }
    };
    c.send([32, 1, {}, topic]);
  });
}

/** Calls/s with `inflight` calls kept outstanding over the window (after a settling second). */
async function callRate(call: () => Promise<unknown>, inflight: number): Promise<number> {
  return (await callRateCpu(call, inflight)).rate;
}

/** Calls per second over WINDOW_MS (after 0.5 s of warm-up), and the router `pid`'s CPU µs per call in it. */
async function callRateCpu(call: () => Promise<unknown>, inflight: number, pid?: number): Promise<{ rate: number; cpuUsPerCall: number }> {
  let done = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      await call();
      done++;
    }
  };
  const loops = Array.from({ length: inflight }, loop);
  await sleep(500);
  const d0 = done;
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const calls = done - d0;
  const rate = (calls * 1000) / (performance.now() - t0);
  const cpuUsPerCall = ((cpuMs(pid) - c0) * 1000) / Math.max(1, calls);
  stop = true;
  await Promise.all(loops);
  return { rate, cpuUsPerCall };
}

async function latencies(call: () => Promise<unknown>, n = 2000): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call();
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

beforeAll(async () => {
  natsPorts = [await freePort(), await freePort()];
  const routePorts = [await freePort(), await freePort()];
  for (const i of [0, 1]) {
    const conf = `server_name: b${i}\nlisten: 127.0.0.1:${natsPorts[i]}\nmax_payload: 8MB\ncluster { name: bench, listen: 127.0.0.1:${routePorts[i]}, routes: ["nats-route://127.0.0.1:${routePorts[1 - i]}"] }\njetstream { store_dir: "${f(`js${i}`)}" }\n`;
    writeFileSync(f(`nats${i}.conf`), conf);
    procs.push(spawn('nats-server', ['-c', f(`nats${i}.conf`)], { stdio: 'ignore' }));
  }
  // the route is up when a message crosses it
  await until(
    async () => {
      try {
        const [a, b] = await Promise.all(natsPorts.map((p) => natsConnect({ servers: `127.0.0.1:${p}` })));
        const sub = b!.subscribe('bench.probe', { max: 1 });
        await b!.flush();
        let got = false;
        void (async () => {
          for await (const _ of sub) got = true;
        })();
        for (let i = 0; i < 10 && !got; i++) {
          a!.publish('bench.probe');
          await sleep(50);
        }
        await a!.close();
        await b!.close();
        return got;
      } catch {
        return false;
      }
    },
    20_000,
    'nats route',
  );
  console.log('fabric bench: two nats-servers with a route, routers n1 and n2 (fabric), solo (no fabric)');
  await startRouter('n1', natsPorts[0]);
  await startRouter('n2', natsPorts[1]);
  await startRouter('solo', undefined);
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const nc of ncs) await nc.close().catch(() => undefined);
  if (process.env.FABRIC_BENCH_CPU_PROF) {
    // the routers write their CPU profiles when they stop in order
    for (const p of routers.values()) if (p.exitCode === null) p.kill('SIGTERM');
    await until(() => [...routers.values()].every((p) => p.exitCode !== null || p.signalCode !== null), 15_000, 'routers stopped').catch(() => undefined);
  }
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await sleep(200);
  // what the routers logged (warn and up: a node dropped under load shows here)
  for (const n of ['n1', 'n2', 'solo']) {
    const lines = existsSync(f(`${n}.log`))
      ? readFileSync(f(`${n}.log`), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
      : [];
    if (lines.length) console.log(`${n} log (${lines.length} lines, last 5):\n${lines.slice(-5).join('\n')}`);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`\n${rows.join('\n')}\n`);
});

it('cross-node RPC vs NATS request/reply; same-node RPC with fabric vs without', async () => {
  const callee = await session('n2');
  // the callee's claim may need JetStream a moment after start: REGISTER again until REGISTERED
  await until(
    async () => {
      try {
        await Promise.race([echoCallee(callee, 'bench.echo'), sleep(1000).then(() => Promise.reject(new Error('no REGISTERED')))]);
        return true;
      } catch {
        return false;
      }
    },
    30_000,
    'registration on n2',
  );
  const c1 = await session('n1');
  const call = caller(c1, 'bench.echo', ARGS);
  await until(
    () =>
      call().then(
        () => true,
        () => false,
      ),
    10_000,
    'n1 sees the registration',
  );
  const [a, b] = await Promise.all(natsPorts.map((p) => natsConnect({ servers: `127.0.0.1:${p}` })));
  ncs.push(a!, b!);
  b!.subscribe('bench.rr', { callback: (_e, m) => m.respond(m.data) });
  await b!.flush();
  await until(
    () =>
      a!.request('bench.rr', new Uint8Array(100), { timeout: 500 }).then(
        () => true,
        () => false,
      ),
    10_000,
    'nats responder',
  );
  const payload = new TextEncoder().encode(ARGS[0]);
  const natsCall = () => a!.request('bench.rr', payload, { timeout: 5000 });
  // fabric and NATS windows alternate (3 each); the median round's ratio is the figure
  const rpcRounds: { fabricRate: number; natsRate: number; ratio: number }[] = [];
  for (let round = 0; round < 3; round++) {
    const fabricRate = await callRate(call, 64);
    const natsRate = await callRate(natsCall, 64);
    rpcRounds.push({ fabricRate, natsRate, ratio: fabricRate / natsRate });
  }
  const { fabricRate, natsRate, ratio } = [...rpcRounds].sort((x, y) => x.ratio - y.ratio)[1]!;
  const fLat = await latencies(call);
  const nLat = await latencies(natsCall);
  report({ figure: 'fabric.rpc', rounds: rpcRounds, fabricRate, natsRate, ratio, fabricP50us: pct(fLat, 50), fabricP99us: pct(fLat, 99), natsP50us: pct(nLat, 50), natsP99us: pct(nLat, 99) });
  rows.push(
    `cross-node RPC (64 in flight, median of ${rpcRounds.map((r) => r.ratio.toFixed(2)).join(', ')}): ${fabricRate.toFixed(0)}/s vs NATS request/reply ${natsRate.toFixed(0)}/s = ${ratio.toFixed(2)}x (goal >= 0.5x)`,
  );
  rows.push(`cross-node RPC at 1 in flight: p50 ${pct(fLat, 50).toFixed(0)} µs, p99 ${pct(fLat, 99).toFixed(0)} µs; NATS p50 ${pct(nLat, 50).toFixed(0)} µs, p99 ${pct(nLat, 99).toFixed(0)} µs`);

  // same node: caller and callee on n1 (fabric on) vs on the solo router (no fabric), alternating rounds
  const local = await session('n1');
  await echoCallee(local, 'bench.local');
  const localCall = caller(await session('n1'), 'bench.local', ARGS);
  const soloCallee = await session('solo');
  await echoCallee(soloCallee, 'bench.local');
  const soloCall = caller(await session('solo'), 'bench.local', ARGS);
  // five rounds, the order flipped every round (on/off, off/on, ...) so a drift of the machine's load
  // favours neither; besides the rate, the router's own CPU time per call (less sensitive to what else runs)
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 0; round < 5; round++) {
    const measureOn = () => callRateCpu(localCall, 64, routers.get('n1')?.pid);
    const measureOff = () => callRateCpu(soloCall, 64, routers.get('solo')?.pid);
    let on: Awaited<ReturnType<typeof measureOn>>;
    let off: typeof on;
    if (round % 2 === 0) {
      on = await measureOn();
      off = await measureOff();
    } else {
      off = await measureOff();
      on = await measureOn();
    }
    ratios.push(on.rate / off.rate);
    cpuRatios.push(off.cpuUsPerCall / Math.max(1, on.cpuUsPerCall));
  }
  const same = pct(ratios, 50);
  const sameCpu = pct(cpuRatios, 50);
  report({ figure: 'fabric.same-node', ratios, median: same, cpuRatios, cpuMedian: sameCpu });
  rows.push(`same-node RPC, fabric on vs off (median of ${ratios.map((r) => r.toFixed(2)).join(', ')}): ${same.toFixed(2)}x (goal >= 0.9x)`);
  rows.push(`same-node RPC, router CPU per call, fabric off / on (median of ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}): ${sameCpu.toFixed(2)}x (1.00x: the fabric costs a local call nothing)`);
  expect(fabricRate).toBeGreaterThan(0);
});

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux; 10 ms ticks). */
function cpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15 of stat)
  } catch {
    return Number.NaN;
  }
}

/** CPU ms of the bench process (its WAMP or NATS clients), the two nats-servers and the routers n1, n2. */
function cpuNow(): Record<'bench' | 'nats1' | 'nats2' | 'n1' | 'n2', number> {
  const u = process.cpuUsage();
  return { bench: (u.user + u.system) / 1000, nats1: cpuMs(procs[0]?.pid), nats2: cpuMs(procs[1]?.pid), n1: cpuMs(routers.get('n1')?.pid), n2: cpuMs(routers.get('n2')?.pid) };
}

/** A counter that notes the time its `target`-th count arrives (a round ends at its last message, not at a poll). */
function arrivals(): { count(): void; expect(target: number): Promise<number>; n: number } {
  let target = Number.POSITIVE_INFINITY;
  let done: ((t: number) => void) | undefined;
  const c = {
    n: 0,
    count() {
      if (++c.n === target) done?.(performance.now());
    },
    expect(t: number): Promise<number> {
      c.n = 0;
      target = t;
      return new Promise<number>((res) => (done = res));
    },
  };
  return c;
}

async function eventFigure(subs: number): Promise<void> {
  const topic = `bench.ev${subs}`;
  const fab = arrivals();
  for (let i = 0; i < subs; i++) {
    const s = await session('n2');
    await subscribe(s, topic);
    countEvents(s, () => fab.count());
  }
  const pub = await session('n1');
  // n1 learns the subscriptions: publish until one arrives
  await until(
    async () => {
      publishMany(pub, topic, ARGS, 1);
      await sleep(50);
      return fab.n > 0;
    },
    10_000,
    'n1 sees the subscribers',
  );
  await sleep(200);
  const n = Math.max(1000, Math.floor(EVENTS / Math.sqrt(subs)));
  const [a, b] = await Promise.all(natsPorts.map((p) => natsConnect({ servers: `127.0.0.1:${p}` })));
  ncs.push(a!, b!);
  const nat = arrivals();
  const subConns: NatsConnection[] = [];
  for (let i = 0; i < subs; i++) {
    const c = await natsConnect({ servers: `127.0.0.1:${natsPorts[1]}` });
    subConns.push(c);
    ncs.push(c);
    c.subscribe(`bench.n${subs}`, { callback: () => nat.count() });
    await c.flush();
  }
  await until(
    async () => {
      a!.publish(`bench.n${subs}`, new Uint8Array(1));
      await a!.flush();
      await sleep(50);
      return nat.n > 0;
    },
    10_000,
    'nats subscribers',
  );
  await sleep(200);
  const payload = new TextEncoder().encode(ARGS[0]);
  const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out: ${what}`)))]);
  // the same n messages each way; a round's time runs from the first publish to the last delivery;
  // fabric and NATS bursts alternate (a warm-up round of each first, not counted), the median round's
  // ratio is the figure
  const rounds: { fabricRate: number; natsRate: number; ratio: number }[] = [];
  // where the CPU goes (µs per delivery, summed over the counted rounds): each process's CPU time across
  // the fabric rounds and across the NATS rounds (the noise of a shared host moves it far less than rates)
  const fabCpu = { bench: 0, nats1: 0, nats2: 0, n1: 0, n2: 0 };
  const natCpu = { bench: 0, nats1: 0, nats2: 0, n1: 0, n2: 0 };
  const addCpu = (acc: typeof fabCpu, c0: typeof fabCpu) => {
    const c1 = cpuNow();
    for (const k of Object.keys(acc) as (keyof typeof acc)[]) acc[k] += c1[k] - c0[k];
  };
  for (let round = -1; round < ROUNDS; round++) {
    let last = fab.expect(n * subs);
    let c0 = cpuNow();
    let t0 = performance.now();
    publishMany(pub, topic, ARGS, n);
    const fabricRate = (n * subs * 1000) / ((await within(last, 60_000, `${n * subs} events`)) - t0);
    await sleep(100);
    if (round >= 0) addCpu(fabCpu, c0);
    last = nat.expect(n * subs);
    c0 = cpuNow();
    t0 = performance.now();
    for (let i = 0; i < n; i++) a!.publish(`bench.n${subs}`, payload);
    const natsRate = (n * subs * 1000) / ((await within(last, 120_000, `${n * subs} nats messages`)) - t0);
    await sleep(100);
    if (round >= 0) {
      addCpu(natCpu, c0);
      rounds.push({ fabricRate, natsRate, ratio: fabricRate / natsRate });
    }
  }
  const perDelivery = (acc: typeof fabCpu) => Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, Number(((v * 1000) / (n * subs * ROUNDS)).toFixed(2))]));
  const cpu = { fabric: perDelivery(fabCpu), nats: perDelivery(natCpu) };
  const med = [...rounds].sort((x, y) => x.ratio - y.ratio)[Math.floor(rounds.length / 2)]!;
  report({ figure: `fabric.events.1to${subs}`, n, rounds, median: med, cpuUsPerDelivery: cpu });
  rows.push(
    `cross-node events 1->${subs} (${n} publications, median of ${rounds.map((r) => r.ratio.toFixed(2)).join(', ')}): ${med.fabricRate.toFixed(0)} deliveries/s vs NATS ${med.natsRate.toFixed(0)}/s = ${med.ratio.toFixed(2)}x (goal >= 0.8x)`,
  );
  rows.push(`  CPU µs per delivery, fabric rounds: ${JSON.stringify(cpu.fabric)}; NATS rounds: ${JSON.stringify(cpu.nats)}`);
  for (const c of subConns) await c.close();
}

it('cross-node events 1->1 vs NATS pub/sub', async () => {
  await eventFigure(1);
});

it('cross-node events 1->100 vs NATS pub/sub', async () => {
  await eventFigure(100);
});

it('time from node kill to its registrations gone (SIGKILL of n2 router + its nats-server)', async () => {
  const n2 = await session('n2');
  await echoCallee(n2, 'bench.dies');
  const watcher = await session('n1');
  let matched: unknown;
  let req = 100;
  watcher.onMessage = (m) => {
    if (m[0] === 50) matched = (m[3] as unknown[] | undefined)?.[0] ?? null;
  };
  const ask = async () => {
    matched = undefined;
    watcher.send([48, req++, {}, 'wamp.registration.match', ['bench.dies']]);
    await until(() => matched !== undefined, 5000, 'match answer');
    return matched;
  };
  await until(async () => typeof (await ask()) === 'number', 10_000, 'n1 sees bench.dies');
  const t0 = performance.now();
  routers.get('n2')!.kill('SIGKILL');
  procs[1]!.kill('SIGKILL'); // n2's nats-server
  await until(async () => (await ask()) === null, 10_000, 'registration gone');
  const ms = performance.now() - t0;
  report({ figure: 'fabric.kill', ms });
  rows.push(`node kill to registrations gone: ${ms.toFixed(0)} ms (deadAfterMs 2000, the default; goal <= 3000 ms)`);
  expect(ms).toBeLessThanOrEqual(3000);
});
