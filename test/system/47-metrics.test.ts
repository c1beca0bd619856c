import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { allocateAddresses } from '../../src/mesh/addresses.js';
import { samplesOf } from '../../src/metrics/collect.js';
import { decodePng, pixelStats } from '../helpers/png.js';
import { bulwark, LAB_CONFIG, LAB_NODES, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';

// The metrics endpoint and status page on the lab: reachable from the management network (this host is
// 198.51.100.1) and over the mesh, filtered from the outside namespace; the router's part arrives through
// its Unix socket; the status page renders in headless chromium.
const PORT = 9110;
const dir = mkdtempSync(join(tmpdir(), 'bw-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const [n1] = LAB_NODES;
const scrape = async (host: string) => {
  const r = await runCmd(['curl', '-sS', '--max-time', '10', `http://${host}:${PORT}/metrics`], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout : undefined;
};
const value = (t: string, name: string, labels: Record<string, string> = {}) => samplesOf(t, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('metrics and status page on the lab', () => {
  it('from the management network: agent, firewall, mesh and router metrics on every node', async () => {
    for (const n of LAB_NODES) {
      const { value: t } = await waitFor(
        `${n.name} metrics with the router up`,
        async () => {
          const t = await scrape(n.mgmt);
          return t && /^bulwark_router_up 1$/m.test(t) ? t : undefined;
        },
        180_000,
        2000,
      );
      expect(value(t, 'bulwark_agent_reconcile_duration_seconds_count', { capability: 'firewall' })[0]?.value, n.name).toBeGreaterThan(0);
      expect(value(t, 'bulwark_firewall_dropped_packets_total', { chain: 'input', rule: 'in-drop' }).length, n.name).toBe(1);
      const peers = value(t, 'bulwark_mesh_handshake_age_seconds')
        .map((s) => s.labels.peer)
        .sort();
      expect(peers, n.name).toEqual(LAB_NODES.filter((x) => x.name !== n.name).map((x) => x.name));
      expect(
        value(t, 'bulwark_mesh_received_bytes_total').every((s) => s.value > 0),
        n.name,
      ).toBe(true);
      expect(t).toMatch(/^# TYPE bulwark_router_sessions gauge$/m);
      // the router's TLS certificate (src/certs facts): present, weeks from expiry
      const certs = value(t, 'bulwark_certificate_days_left');
      expect(certs.length, n.name).toBeGreaterThanOrEqual(1);
      expect(
        certs.every((c) => c.value > 14),
        n.name,
      ).toBe(true);
      expect(t).toMatch(/^bulwark_router_auth_failures_total\{method="ticket"\} \d+$/m);
    }
  });

  it('over the mesh from another node; not from the outside network', async () => {
    const cfg = loadConfig(LAB_CONFIG);
    const mesh1 = allocateAddresses(
      cfg.mesh.cidr,
      cfg.nodes.map((n) => n.name),
      cfg.mesh.addresses,
    ).get('n1');
    const js = `fetch('http://${mesh1}:${PORT}/metrics').then(r=>r.text()).then(t=>console.log(t.split('\\n').filter(l=>l.startsWith('bulwark_router_up')).join()))`;
    const r = await onMachine('n2', `/usr/lib/bulwark/node -e "${js}"`, 60_000);
    expect(r.stdout.trim(), r.stderr).toBe('bulwark_router_up 1');
    const nm = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'nmap', '-n', '-Pn', '-sT', '-T4', '--max-retries', '1', '-p', String(PORT), '-oG', '-', n1.pub], { timeoutMs: 120_000 });
    expect(nm.code, nm.stderr).toBe(0);
    expect(nm.stdout).toMatch(new RegExp(`${PORT}/filtered/tcp`));
    const c = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'curl', '-sS', '--max-time', '3', `http://${n1.pub}:${PORT}/metrics`], { timeoutMs: 30_000 });
    expect(c.code).not.toBe(0);
  });

  it('bulwark audit: metrics.not-public passes on every node', async () => {
    const r = await bulwark(['audit', '--all', '--json']);
    const j = JSON.parse(r.stdout) as { nodes: { node: string; checks: { id: string; status: string; evidence: string }[] }[] };
    for (const n of j.nodes) {
      const c = n.checks.find((x) => x.id === 'metrics.not-public');
      expect(c?.status, `${n.node}: ${c?.evidence}`).toBe('pass');
      expect(c?.evidence).toContain(LAB_NODES.find((x) => x.name === n.node)!.mgmt);
    }
  });

  it('the status page of n1 renders in headless chromium', async () => {
    const flags = [
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
    const url = `http://${n1.mgmt}:${PORT}/`;
    const dom = await runCmd(['chromium', ...flags, `--user-data-dir=${mkdtempSync(join(dir, 'p-'))}`, '--dump-dom', url], { timeoutMs: 60_000 });
    expect(dom.code, dom.stderr.slice(-1000)).toBe(0);
    for (const h of ['Nodes', 'Mesh links', 'Router sessions', 'Apps', 'Certificates', 'Last audit']) expect(dom.stdout).toContain(`<h2>${h}</h2>`);
    for (const n of LAB_NODES) expect(dom.stdout).toContain(`<td>${n.name}</td>`);
    expect(dom.stdout).not.toContain('router metrics unavailable');
    expect(dom.stdout).not.toContain('no certificate information');
    const png = join(dir, 'n1-status.png');
    const shot = await runCmd(['chromium', ...flags, `--user-data-dir=${mkdtempSync(join(dir, 'p-'))}`, `--screenshot=${png}`, url], { timeoutMs: 60_000 });
    expect(shot.code, shot.stderr.slice(-1000)).toBe(0);
    const { foreground, colours } = pixelStats(decodePng(readFileSync(png)));
    expect(foreground).toBeGreaterThan(0.03);
    expect(foreground).toBeLessThan(0.9);
    expect(colours).toBeGreaterThan(20);
  });
});
