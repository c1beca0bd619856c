import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan, readTable } from '../../../src/firewall/nft.js';
import { countersOf } from '../../../src/firewall/local.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import type { FirewallConfigInput } from '../../../src/firewall/schema.js';
import { run, runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from './netns.js';

// Real packets: node namespace (the ruleset) <-veth-> client namespace holding every outside role by source
// address: outside clients 192.0.2.1-4, a WireGuard peer 192.0.2.12, a management host 198.51.100.5 and an
// egress destination 203.0.113.10.
const NODE = 'bwt-fwk-n';
const CLIENT = 'bwt-fwk-c';
const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));
const NODE_IP = '192.0.2.11';
const FACTS = { self: { name: 'n1', endpoint: NODE_IP }, peers: [{ name: 'n2', endpoint: '192.0.2.12' }], resolvers: [] as string[] };
const BASE: FirewallConfigInput = {
  managementNetworks: ['198.51.100.0/24'],
  https: { newConnectionLimit: { rate: 1, per: 'minute', burst: 5 } },
  icmp: { echoRate: 1, echoBurst: 3 },
  egress: { allow: [{ name: 'db', to: ['203.0.113.10'], proto: 'tcp', ports: [5432] }] },
};
const children: ChildProcess[] = [];

function startServer(ns: string, ...specs: string[]): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVER, ...specs], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server in ${ns} not ready`)), 10_000);
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server in ${ns} exited ${code}`)));
  });
}

async function probe(ns: string, proto: 'tcp' | 'udp', host: string, port: number, from: string, count = 1, timeoutMs = 1200): Promise<string[]> {
  const r = await runOk([process.execPath, PROBE, proto, host, String(port), from, String(timeoutMs), String(count)], { netns: ns, timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as string[];
}
const tcp = async (from: string, port: number) => (await probe(CLIENT, 'tcp', NODE_IP, port, from))[0];
const apply = async (cfg: FirewallConfigInput) => applyPlan(planFirewall(cfg, FACTS), { netns: NODE });

describe('firewall with real packets', () => {
  beforeAll(async () => {
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'fwk-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'fwk-c0', 'netns', CLIENT]);
    for (const a of ['192.0.2.11/24', '198.51.100.11/24', '203.0.113.11/24']) await inNs(NODE, 'ip', 'addr', 'add', a, 'dev', 'fwk-n0');
    for (const a of ['192.0.2.1/24', '192.0.2.2/24', '192.0.2.3/24', '192.0.2.4/24', '192.0.2.12/24', '198.51.100.5/24', '203.0.113.10/24'])
      await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'fwk-c0');
    await inNs(NODE, 'ip', 'link', 'set', 'fwk-n0', 'up');
    await inNs(CLIENT, 'ip', 'link', 'set', 'fwk-c0', 'up');
    await startServer(NODE, 'tcp:443', 'tcp:80', 'tcp:22', 'tcp:8080', 'udp:51820');
    await startServer(CLIENT, 'tcp:5432', 'tcp:5433');
    // without a ruleset everything answers (so a closed port below is the firewall's doing)
    expect(await tcp('192.0.2.1', 8080)).toBe('open');
    expect(await tcp('192.0.2.1', 22)).toBe('open');
    await apply(BASE);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, CLIENT);
  });

  it('outside client: 443 connects; 22, 80 and 8080 do not', async () => {
    expect(await tcp('192.0.2.1', 443)).toBe('open');
    expect(await tcp('192.0.2.1', 22)).toBe('timeout');
    expect(await tcp('192.0.2.1', 80)).toBe('timeout');
    expect(await tcp('192.0.2.1', 8080)).toBe('timeout');
  });

  it('management network: 22 connects', async () => {
    expect(await tcp('198.51.100.5', 22)).toBe('open');
  });

  it('80 connects only with the HTTP redirect on', async () => {
    await apply({ ...BASE, httpRedirect: true });
    try {
      expect(await tcp('192.0.2.2', 80)).toBe('open');
    } finally {
      await apply(BASE);
    }
    expect(await tcp('192.0.2.2', 80)).toBe('timeout');
  });

  it('WireGuard port: UDP from a peer endpoint only', async () => {
    expect(await probe(CLIENT, 'udp', NODE_IP, 51820, '192.0.2.12')).toEqual(['reply']);
    expect(await probe(CLIENT, 'udp', NODE_IP, 51820, '192.0.2.1')).toEqual(['timeout']);
  });

  it('egress: a port in the allowlist connects, one outside it does not', async () => {
    expect(await probe(NODE, 'tcp', '203.0.113.10', 5432, '203.0.113.11')).toEqual(['open']);
    expect(await probe(NODE, 'tcp', '203.0.113.10', 5433, '203.0.113.11')).toEqual(['timeout']);
  });

  it('the (burst+1)-th new 443 connection from one source is dropped; another source still connects', async () => {
    const burst = await probe(CLIENT, 'tcp', NODE_IP, 443, '192.0.2.3', 6, 1200);
    expect(burst).toEqual(['open', 'open', 'open', 'open', 'open', 'timeout']);
    expect(await probe(CLIENT, 'tcp', NODE_IP, 443, '192.0.2.4', 1)).toEqual(['open']);
  });

  it('per-rule counters count what was accepted and dropped', async () => {
    // (counters restart when a test replaces the table, so make the traffic here)
    expect(await tcp('192.0.2.1', 8080)).toBe('timeout');
    expect(await tcp('198.51.100.5', 22)).toBe('open');
    const counters = countersOf((await readTable({ netns: NODE }))!);
    const get = (rule: string) => counters.find((c) => c.rule === rule)?.packets ?? -1;
    expect(get('in-https')).toBeGreaterThan(0);
    expect(get('in-drop')).toBeGreaterThan(0);
    expect(get('in-ssh4')).toBeGreaterThan(0);
    expect(get('in-https-limit4')).toBeGreaterThan(0);
    expect(get('in-wireguard4')).toBeGreaterThan(0);
  });

  it('ping is rate-limited', async () => {
    const r = await run(['ping', '-c', '20', '-i', '0.01', '-W', '1', '-q', NODE_IP], { netns: CLIENT, timeoutMs: 30_000 });
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const received = Number(m?.[2]);
    expect(Number(m?.[1])).toBe(20);
    expect(received).toBeGreaterThanOrEqual(1);
    expect(received).toBeLessThanOrEqual(5);
  });
});
