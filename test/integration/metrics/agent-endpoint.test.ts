import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { routerRegistry, serveRouterMetrics } from '../../../src/router/metrics.js';
import { samplesOf } from '../../../src/metrics/collect.js';
import { runOk, run } from '../../../src/util/exec.js';
import { waitFor } from '../../helpers/lab.js';
import { addNetns, delNetns, inNs } from '../firewall/netns.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir } from '../router/helpers.js';

// The real agent process in a node namespace with a public (192.0.2.11) and a management (198.51.100.11)
// address: it binds its metrics listener to the management address only and serves its own metrics with
// the router's (a real router, read over its Unix socket) appended; a client namespace scrapes it with curl.
const NODE = 'bwt-mag-n';
const CLIENT = 'bwt-mag-c';
const PORT = 9110;
const tmp = tempDir('bwt-mag-');
const routerSock = join(tmp.dir, 'router-metrics.sock');
const mem = memoryLogger();
const procs: ChildProcess[] = [];
let r: RunningRouter;
let rsrv: Server;

const CONFIG = `cluster: lab
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
firewall: { managementNetworks: [198.51.100.0/24] }
metrics: { port: ${PORT} }
router:
  realms: [{ name: app, roles: [{ name: public, permissions: [{ uri: com.example., match: prefix, call: true }] }] }]
  listeners: [{ type: websocket, port: 443 }]
`;

const curl = (from: string, url: string) => run(['curl', '-sS', '--max-time', '3', '--interface', from, url], { netns: CLIENT, timeoutMs: 10_000 });

beforeAll(async () => {
  await addNetns(NODE);
  await addNetns(CLIENT);
  await runOk(['ip', 'link', 'add', 'mag-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'mag-c0', 'netns', CLIENT]);
  for (const a of ['192.0.2.11/24', '198.51.100.11/24']) await inNs(NODE, 'ip', 'addr', 'add', a, 'dev', 'mag-n0');
  for (const a of ['192.0.2.1/24', '198.51.100.5/24']) await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'mag-c0');
  await inNs(NODE, 'ip', 'link', 'set', 'mag-n0', 'up');
  await inNs(CLIENT, 'ip', 'link', 'set', 'mag-c0', 'up');
  r = await startRouter({ realms: [baseRealm()], listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] }], auth: { anonymous: { role: 'public' } } }, { log: mem.log });
  rsrv = await serveRouterMetrics(routerRegistry(r.router), routerSock, mem.log);
  writeFileSync(join(tmp.dir, 'bulwark.yaml'), CONFIG);
  writeFileSync(join(tmp.dir, 'node.json'), '{"name":"n1"}');
  const dist = (p: string) => join(process.cwd(), 'dist/src', p);
  // One capability that finds drift on each pass; real nft and the router's socket, no mesh (not joined).
  const agent = spawn(
    'ip',
    [
      'netns',
      'exec',
      NODE,
      process.execPath,
      '--input-type=module',
      '-e',
      `
    const { Agent } = await import('${dist('agent/agent.js')}');
    const { createLogger } = await import('${dist('log/logger.js')}');
    const { Observability } = await import('${dist('metrics/observe.js')}');
    const { getUnix } = await import('${dist('metrics/sources.js')}');
    const { readTableJson } = await import('${dist('firewall/nft.js')}');
    const sources = { nftJson: () => readTableJson(), routerText: () => getUnix('${routerSock}', '/metrics'), mesh: async () => null };
    const a = new Agent({ log: createLogger({ pretty: false }), configPath: '${tmp.dir}/bulwark.yaml', identityPath: '${tmp.dir}/node.json', socketPath: '${tmp.dir}/agent.sock', intervalMs: 400,
      reconcilers: [{ name: 'probe', reconcile: async () => ({ name: 'probe', changed: true, drift: ['something moved'], notes: [] }) }],
      observers: async (ctx) => [new Observability({ ...ctx, sources, meshAddresses: () => new Map(), apps: async () => [] })] });
    process.on('SIGTERM', () => a.stop().then(() => process.exit(0)));
    await a.start();
    process.stdout.write('started\\n');`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(agent);
  await waitFor('agent started', async () => (await curl('198.51.100.5', `http://198.51.100.11:${PORT}/metrics`)).code === 0, 20_000);
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  rsrv?.close();
  await r?.close();
  await delNetns(NODE, CLIENT);
  tmp.cleanup();
});

describe('the agent serves metrics and the status page on its management address', () => {
  it('drift repairs and reconcile durations of the real agent loop, and the router part', async () => {
    const first = await curl('198.51.100.5', `http://198.51.100.11:${PORT}/metrics`);
    const n1 = samplesOf(first.stdout, 'bulwark_agent_drift_repairs_total').find((s) => s.labels.capability === 'probe')?.value ?? 0;
    expect(n1).toBeGreaterThanOrEqual(1);
    expect(first.stdout).toMatch(/^bulwark_agent_reconcile_duration_seconds_count\{capability="probe"\} \d+$/m);
    expect(first.stdout).toMatch(/^bulwark_router_up 1$/m);
    expect(first.stdout).toMatch(/^bulwark_agent_process_resident_memory_bytes \d+/m);
    // a pass later the counter has moved
    const moved = await waitFor(
      'another pass',
      async () => {
        const t = (await curl('198.51.100.5', `http://198.51.100.11:${PORT}/metrics`)).stdout;
        const v = samplesOf(t, 'bulwark_agent_drift_repairs_total').find((s) => s.labels.capability === 'probe')?.value ?? 0;
        return v > n1 ? v : undefined;
      },
      10_000,
    );
    expect(moved.value).toBeGreaterThan(n1);
  });

  it('a WAMP session shows up in the agent endpoint and on the status page', async () => {
    const c = await abConnect({ url: `ws://127.0.0.1:${r.port(0)}/`, realm: 'app' });
    try {
      const t = (await curl('198.51.100.5', `http://198.51.100.11:${PORT}/metrics`)).stdout;
      expect(t).toContain('bulwark_router_sessions{realm="app",role="public"} 1');
      const html = (await curl('198.51.100.5', `http://198.51.100.11:${PORT}/`)).stdout;
      expect(html).toContain('<h1>Bulwark cluster lab</h1>');
      expect(html).toMatch(/<td>app<\/td><td>public<\/td><td>1<\/td>/);
    } finally {
      await closeAb(c);
    }
  });

  it('nothing listens on the public address (so even without a firewall the port is closed there)', async () => {
    const pub = await curl('192.0.2.1', `http://192.0.2.11:${PORT}/metrics`);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/Connection refused|Failed to connect/);
    const listening = await inNs(NODE, 'ss', '-Hltn', `sport = :${PORT}`);
    // the local address column: exactly the management address
    expect(
      listening
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[3]),
    ).toEqual([`198.51.100.11:${PORT}`]);
  });
});
