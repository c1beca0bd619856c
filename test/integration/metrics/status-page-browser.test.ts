import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Observability } from '../../../src/metrics/observe.js';
import type { MetricSources } from '../../../src/metrics/registry.js';
import { configSchema } from '../../../src/config/schema.js';
import { run } from '../../../src/util/exec.js';
import { decodePng, pixelStats } from '../../helpers/png.js';
import { memoryLogger } from '../router/helpers.js';

// The status page as served by the agent's metrics listener, rendered by a real headless browser
// (Debian's chromium): the DOM has the headings and names, names from the config stay text, and the
// screenshot is a page (not blank, not one colour).
const tmp = mkdtempSync(join(tmpdir(), 'bwt-status-'));
const mem = memoryLogger();
const config = configSchema.parse({
  cluster: 'lab',
  nodes: [
    { name: 'n1', ssh: 'root@198.51.100.11', endpoint: '192.0.2.11' },
    { name: 'n2', ssh: 'root@198.51.100.12', endpoint: '192.0.2.12' },
    { name: 'n3', ssh: 'root@198.51.100.13', endpoint: '192.0.2.13' },
  ],
  router: {
    realms: [{ name: 'app', roles: [{ name: 'public', permissions: [] }] }],
    listeners: [{ type: 'websocket', port: 443 }],
  },
});
const routerText = `# TYPE bulwark_router_sessions gauge
bulwark_router_sessions{realm="app",role="public"} 7
bulwark_router_sessions{realm="app",role="<img src=x onerror=alert(1)>"} 2
bulwark_router_connections_total 42
bulwark_router_auth_failures_total{method="ticket"} 3
`;
const sources: MetricSources = {
  nftJson: () => Promise.resolve(null),
  mesh: () =>
    Promise.resolve([
      { peer: 'n2', endpoint: '192.0.2.12:51820', handshakeAgeSec: 12, rxBytes: 123456, txBytes: 654321 },
      { peer: 'n3', endpoint: '192.0.2.13:51820', handshakeAgeSec: null, rxBytes: 0, txBytes: 0 },
    ]),
  routerText: () => Promise.resolve(routerText),
};
let ob: Observability;
let base = '';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--window-size=1200,900',
];
async function chromium(...args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = await run(['chromium', ...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`chromium exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

beforeAll(async () => {
  ob = new Observability({
    log: mem.log,
    nodeName: 'n1',
    config: () => config,
    summary: () => '4 capabilities reconciled, no drift',
    sources,
    meshAddresses: () =>
      new Map([
        ['n1', '10.77.0.5'],
        ['n2', '10.77.0.9'],
        ['n3', '10.77.0.14'],
      ]),
    addresses: () => ['127.0.0.1'],
    apps: () =>
      Promise.resolve([
        { name: 'echo', realm: 'app', state: 'active' },
        { name: 'billing"<b>', realm: 'app', state: 'failed' },
      ]),
    audit: () =>
      Promise.resolve([
        { id: 'firewall.table', status: 'pass', evidence: 'ok' },
        { id: 'mesh.peers', status: 'fail', evidence: 'n3 <never>' },
      ]),
    processMetrics: false,
  });
  await ob.runAudit();
  await ob.server.sync(['127.0.0.1'], 0);
  base = `http://127.0.0.1:${ob.server.portOf('127.0.0.1')}`;
});
afterAll(async () => {
  await ob?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('status page in headless chromium', () => {
  it('the DOM has every section, the node names, and config names as text only', async () => {
    const dom = await chromium('--dump-dom', `${base}/`);
    for (const h of ['Nodes', 'Mesh links', 'Router sessions', 'Apps', 'Certificates', 'Last audit']) expect(dom).toContain(`<h2>${h}</h2>`);
    expect(dom).toContain('Bulwark cluster lab');
    for (const n of ['n1', 'n2', 'n3', '192.0.2.13', 'echo']) expect(dom).toContain(`<td>${n}</td>`);
    expect(dom).toMatch(/<td class="ok">12s ago<\/td>/);
    expect(dom).toMatch(/<td class="bad">never<\/td>/);
    expect(dom).toContain('1 pass, 1 fail, 0 n/a');
    // hostile names arrive as text: no element was made from them
    expect(dom).not.toContain('<img');
    expect(dom).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(dom).not.toContain('<b>');
    expect(dom).toContain('billing"&lt;b&gt;');
  });

  it('the screenshot is a rendered page: not blank, not one colour', async () => {
    const file = join(tmp, 'status.png');
    await chromium(`--screenshot=${file}`, `${base}/`);
    const png = decodePng(readFileSync(file));
    expect(png.width).toBe(1200);
    expect(png.height).toBeGreaterThan(500);
    const { foreground, colours } = pixelStats(png);
    // text, table borders and coloured cells: a few percent of the page at least, far from all of it
    expect(foreground).toBeGreaterThan(0.03);
    expect(foreground).toBeLessThan(0.9);
    expect(colours).toBeGreaterThan(20);
  });

  it('/metrics on the same listener is Prometheus text with the router part appended', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^bulwark_router_up 1$/m);
    expect(text).toContain('bulwark_mesh_handshake_age_seconds{peer="n2"} 12');
    expect(text).not.toContain('bulwark_mesh_handshake_age_seconds{peer="n3"}');
    expect(text).toContain('bulwark_mesh_received_bytes_total{peer="n2"} 123456');
    expect(text).toContain('bulwark_router_sessions{realm="app",role="public"} 7');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });
});
