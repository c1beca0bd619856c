import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pino from 'pino';
import { dropCounters, listenAddresses, meshLinks, samplesOf } from '../../../src/metrics/collect.js';
import { esc, renderStatusPage, type StatusData } from '../../../src/metrics/status-page.js';
import { listeningOn, metricsExposure, type PortAllow } from '../../../src/metrics/audit.js';
import { cidrToString } from '../../../src/firewall/cidr.js';
import { AGENT_METRICS, AgentMetrics } from '../../../src/metrics/registry.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { factsFromConfig } from '../../../src/firewall/node-facts.js';
import { configSchema } from '../../../src/config/schema.js';
import { Router } from '../../../src/router/core/router.js';
import { routerSchema } from '../../../src/router/config.js';
import { routerRegistry, ROUTER_METRICS } from '../../../src/router/metrics.js';
import { MAX_ERROR_URIS } from '../../../src/router/core/stats.js';
import { cbor } from '../../../src/router/wamp/serializers.js';

const page = (over: Partial<StatusData> = {}): StatusData => ({
  cluster: 'lab',
  node: 'n1',
  version: '0.1.0',
  generatedAt: '2026-01-01T00:00:00Z',
  summary: 'ok',
  nodes: [{ name: 'n1', endpoint: '192.0.2.11', meshAddress: '10.77.0.5', self: true }],
  mesh: [],
  router: { sessions: [], connections: 0, authFailures: 0 },
  apps: [],
  certificates: null,
  lastAudit: null,
  ...over,
});

describe('status page', () => {
  it('escapes every name it shows', () => {
    const evil = `<script>alert("x")</script>&'`;
    const html = renderStatusPage(
      page({
        cluster: evil,
        node: evil,
        summary: evil,
        nodes: [{ name: evil, endpoint: evil, meshAddress: evil, self: false }],
        mesh: [{ peer: evil, endpoint: evil, handshakeAgeSec: 5, rxBytes: 1, txBytes: 2 }],
        router: { sessions: [{ realm: evil, role: evil, count: 1 }], connections: 1, authFailures: 0 },
        apps: [{ name: evil, realm: evil, state: evil }],
        certificates: [{ name: evil, daysLeft: 3 }],
        lastAudit: { at: evil, pass: 1, fail: 1, na: 0, failing: [{ id: evil, evidence: evil }] },
      }),
    );
    expect(html).not.toContain('<script');
    expect(html).not.toContain('"x"');
    expect(html.split('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;').length - 1).toBeGreaterThanOrEqual(14);
  });
  it('esc leaves no markup character, whatever the input (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => !/[<>"']/.test(esc(s)) && !/&(?!amp;|lt;|gt;|quot;|#39;)/.test(esc(s))));
  });
  it('has no scripts and no external assets; shows each section', () => {
    const html = renderStatusPage(page());
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    for (const h of ['Nodes', 'Mesh links', 'Router sessions', 'Apps', 'Certificates', 'Last audit']) expect(html).toContain(`<h2>${h}</h2>`);
    expect(renderStatusPage(page({ router: null, mesh: null }))).toContain('router metrics unavailable');
  });
});

describe('collected values', () => {
  it('drop counters: only rules that drop, named by their comment', () => {
    const j = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { rule: { family: 'inet', table: 'bulwark', chain: 'input', handle: 4, comment: 'in-https', expr: [{ counter: { packets: 9, bytes: 900 } }, { accept: null }] } },
        { rule: { family: 'inet', table: 'bulwark', chain: 'input', handle: 5, comment: 'in-drop', expr: [{ counter: { packets: 3, bytes: 180 } }, { drop: null }] } },
        { rule: { family: 'inet', table: 'bulwark', chain: 'output', handle: 6, comment: 'out-invalid', expr: [{ match: {} }, { counter: { packets: 1, bytes: 40 } }, { drop: null }] } },
      ],
    });
    expect(dropCounters(j)).toEqual([
      { chain: 'input', rule: 'in-drop', packets: 3, bytes: 180 },
      { chain: 'output', rule: 'out-invalid', packets: 1, bytes: 40 },
    ]);
  });
  it('Prometheus samples with escaped labels', () => {
    const t = '# HELP x y\nbulwark_x{a="q\\"uote",b="2"} 5\nbulwark_x_total 7\nbulwark_x 1.5\n';
    expect(samplesOf(t, 'bulwark_x')).toEqual([
      { name: 'bulwark_x', labels: { a: 'q"uote', b: '2' }, value: 5 },
      { name: 'bulwark_x', labels: {}, value: 1.5 },
    ]);
  });
  it('mesh links: handshake age from the dump, null for never', () => {
    const dump = {
      iface: { publicKey: null, listenPort: 51820, fwmark: null },
      peers: [{ publicKey: 'K2', presharedKey: null, endpoint: '192.0.2.12:51820', allowedIps: [], latestHandshake: 990, rxBytes: 10n, txBytes: 20n, keepalive: 25 }],
    };
    expect(
      meshLinks(
        dump,
        [
          { name: 'n2', publicKey: 'K2', endpoint: '192.0.2.12' },
          { name: 'n3', publicKey: 'K3', endpoint: '192.0.2.13' },
        ],
        1000,
      ),
    ).toEqual([
      { peer: 'n2', endpoint: '192.0.2.12:51820', handshakeAgeSec: 10, rxBytes: 10, txBytes: 20 },
      { peer: 'n3', endpoint: '192.0.2.13', handshakeAgeSec: null, rxBytes: 0, txBytes: 0 },
    ]);
  });
  it('listen addresses: the mesh address and addresses inside management networks, never a wildcard or the public one', () => {
    const local = ['127.0.0.1', '192.0.2.11', '198.51.100.11', '10.77.0.5', '::1', '2001:db8::11'];
    expect(listenAddresses(local, ['198.51.100.0/24', '2001:db8::/64'], '10.77.0.5')).toEqual(['10.77.0.5', '198.51.100.11', '2001:db8::11']);
    expect(listenAddresses(local, [], undefined)).toEqual([]);
    expect(listenAddresses(local, ['198.51.100.11'], undefined)).toEqual(['198.51.100.11']);
  });
});

describe('audit: metrics.not-public', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0B6433C6:23A6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0B6433C6:23A6 0100000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
`;
  const tcp6 = `  sl  local_address remote_address st
   0: 00000000000000000000000000000000:23A6 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4 1
   1: 0000000000000000FFFF00000B0200C0:23A6 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5 1
`;
  it('reads listening addresses of the port from /proc/net/tcp{,6}', () => {
    expect(listeningOn(tcp, '', 9126)).toEqual(['198.51.100.11']);
    expect(listeningOn('', tcp6, 9126)).toEqual(['::', '192.0.2.11']);
  });
  const facts = { self: { name: 'n1', endpoint: '192.0.2.11' }, meshCidr: '10.77.0.0/24', metricsPort: 9110 };
  // as the composition root hands the plan over (src/cli/metrics-plugin.ts)
  const allowsOf = (cfg: Parameters<typeof planFirewall>[0]): PortAllow[] => planFirewall(cfg, facts).inputAllows.map((a) => ({ ...a, from: a.from === null ? null : a.from.map(cidrToString) }));
  it('passes for the plan, fails when the port is open to any source or the public endpoint', () => {
    const ok = allowsOf({ managementNetworks: ['198.51.100.0/24'] });
    expect(metricsExposure(9110, ok, ['198.51.100.11', '10.77.0.5'], '192.0.2.11').status).toBe('pass');
    expect(metricsExposure(9110, ok, ['0.0.0.0'], '192.0.2.11')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('every address') });
    expect(metricsExposure(9110, ok, ['192.0.2.11'], '192.0.2.11').status).toBe('fail');
    const wide = allowsOf({ managementNetworks: ['192.0.2.0/24'] });
    expect(metricsExposure(9110, wide, [], '192.0.2.11')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('holds the public endpoint') });
    const open = allowsOf({ managementNetworks: ['198.51.100.0/24'], inbound: [{ name: 'all', proto: 'tcp', ports: ['9000-9200'] }] });
    expect(metricsExposure(9110, open, [], '192.0.2.11')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('in-extra-all') });
  });
});

describe('firewall plan: the metrics port', () => {
  const facts = { self: { name: 'n1', endpoint: '192.0.2.11' }, meshCidr: '10.77.0.0/24', meshInterface: 'bw0', metricsPort: 9110 };
  it('accepts it from the management sets and on bw0 from the mesh, never from any source', () => {
    const p = planFirewall({ managementNetworks: ['198.51.100.0/24'] }, facts);
    const byId = (id: string) => p.rules.find((r) => r.comment === id)!;
    expect(JSON.stringify(byId('in-metrics4').expr)).toContain('"@mgmt4"');
    expect(JSON.stringify(byId('in-metrics6').expr)).toContain('"@mgmt6"');
    const mesh = JSON.stringify(byId('in-metrics-mesh').expr);
    expect(mesh).toContain('"iifname"');
    expect(mesh).toContain('"bw0"');
    expect(mesh).toContain('10.77.0.0');
    const allows = p.inputAllows.filter((a) => a.ports.some(([lo, hi]) => lo <= 9110 && 9110 <= hi));
    expect(allows.map((a) => a.id)).toEqual(['in-metrics', 'in-metrics-mesh']);
    expect(allows.every((a) => a.from !== null)).toBe(true);
    expect(p.rules.findIndex((r) => r.comment === 'in-metrics4')).toBeLessThan(p.rules.findIndex((r) => r.comment === 'in-drop'));
    // and out over the mesh only, to scrape the other nodes
    const out = JSON.stringify(byId('out-metrics-mesh').expr);
    expect(out).toContain('"oifname"');
    expect(out).toContain('"bw0"');
    expect(p.rules.filter((r) => r.chain === 'output' && JSON.stringify(r.expr).includes('9110')).map((r) => r.comment)).toEqual(['out-metrics-mesh']);
  });
  it('comes from the config (metrics.port, default 9110) and goes with metrics.enabled: false', () => {
    const base = {
      cluster: 'c',
      nodes: [{ name: 'n1', ssh: 'root@198.51.100.11', endpoint: '192.0.2.11' }],
      router: { realms: [{ name: 'app', roles: [{ name: 'r', permissions: [] }] }], listeners: [{ type: 'websocket', port: 443 }] },
    };
    expect(factsFromConfig(configSchema.parse(base), 'n1', { resolvers: [] }).metricsPort).toBe(9110);
    expect(factsFromConfig(configSchema.parse({ ...base, metrics: { port: 9555 } }), 'n1', { resolvers: [] }).metricsPort).toBe(9555);
    const off = factsFromConfig(configSchema.parse({ ...base, metrics: { enabled: false } }), 'n1', { resolvers: [] });
    expect(off.metricsPort).toBeUndefined();
    expect(planFirewall({}, off).rules.some((r) => (r.comment ?? '').startsWith('in-metrics'))).toBe(false);
  });
});

describe('metric names and labels', () => {
  const cfg = routerSchema.parse({
    realms: [
      {
        name: 'app',
        roles: [
          { name: 'svc', permissions: [{ uri: 'bench.', match: 'prefix', call: true, register: true, publish: true, subscribe: true }] },
          { name: 'idle', permissions: [] },
        ],
      },
    ],
    listeners: [{ type: 'rawsocket', path: '/tmp/x.sock', component: 'svc' }],
    components: [{ name: 'svc', realm: 'app', role: 'svc' }],
  });
  const conn = () => ({
    serializer: cbor,
    info: { type: 'rawsocket' as const, protocol: 'wamp.2.cbor', peer: 'unix', source: 'unix', listener: 'l', tls: false },
    send() {},
    close() {},
    rebind() {},
    queuedBytes: () => 100,
  });
  const listener = { name: 'l', cfg: cfg.listeners[0] as never, component: { realm: 'app', authid: 'svc', authrole: 'svc', authmethod: 'trusted', authprovider: 'static' } };
  it('the router: sessions by realm and role, messages by type, errors by URI (bounded), queue bytes', async () => {
    const router = new Router(cfg, pino({ level: 'silent' }));
    const reg = routerRegistry(router);
    const s = router.attach(conn(), listener);
    s.receive([1, 'app', { roles: { caller: {} } }]);
    s.receive([48, 1, {}, 'bench.none', []]);
    for (let i = 0; i < MAX_ERROR_URIS + 5; i++) router.stats.error(`com.example.e${i}`);
    const t = await reg.metrics();
    expect(t).toContain(`${ROUTER_METRICS.sessions}{realm="app",role="svc"} 1`);
    expect(t).toContain(`${ROUTER_METRICS.sessions}{realm="app",role="idle"} 0`);
    expect(t).toContain(`${ROUTER_METRICS.messages}{type="HELLO"} 1`);
    expect(t).toContain(`${ROUTER_METRICS.messages}{type="CALL"} 1`);
    expect(t).toContain(`${ROUTER_METRICS.errors}{uri="wamp.error.no_such_procedure"} 1`);
    expect(t).toContain(`${ROUTER_METRICS.errors}{uri="other"} 6`);
    expect(t).toContain(`${ROUTER_METRICS.queueBytes} 100`);
    expect(t).toContain(`${ROUTER_METRICS.authFailures}{method="ticket"} 0`);
    expect(t).toContain(`# TYPE ${ROUTER_METRICS.slowConsumers} counter`);
    s.closed();
    router.detach(s);
    expect(await reg.metrics()).toContain(`${ROUTER_METRICS.sessions}{realm="app",role="svc"} 0`);
  });
  it('the agent: reconcile durations and drift per capability, firewall drops, mesh, router up', async () => {
    const m = new AgentMetrics({
      nftJson: () => Promise.resolve(JSON.stringify({ nftables: [{ rule: { chain: 'input', comment: 'in-drop', expr: [{ counter: { packets: 4, bytes: 240 } }, { drop: null }] } }] })),
      mesh: () => Promise.resolve([{ peer: 'n2', endpoint: null, handshakeAgeSec: 30, rxBytes: 5, txBytes: 6 }]),
      routerText: () => Promise.resolve(null),
    });
    m.observePass([
      { name: 'firewall', changed: true, drift: ['table missing', 'set mgmt4'], notes: [], durationMs: 120 },
      { name: 'mesh', changed: false, drift: [], notes: [], error: 'boom', durationMs: 3 },
    ]);
    const t = await m.text();
    expect(t).toContain(`${AGENT_METRICS.driftRepairs}{capability="firewall"} 2`);
    expect(t).toContain(`${AGENT_METRICS.reconcileErrors}{capability="mesh"} 1`);
    expect(t).toContain(`${AGENT_METRICS.reconcileDuration}_bucket{le="0.25",capability="firewall"} 1`);
    expect(t).toContain(`${AGENT_METRICS.firewallDroppedPackets}{chain="input",rule="in-drop"} 4`);
    expect(t).toContain(`${AGENT_METRICS.firewallDroppedBytes}{chain="input",rule="in-drop"} 240`);
    expect(t).toContain(`${AGENT_METRICS.meshHandshakeAge}{peer="n2"} 30`);
    expect(t).toContain(`${AGENT_METRICS.routerUp} 0`);
    expect(t).not.toContain(AGENT_METRICS.certificateDaysLeft);
    const withCerts = new AgentMetrics({
      nftJson: () => Promise.resolve(null),
      mesh: () => Promise.resolve(null),
      routerText: () => Promise.resolve('bulwark_router_connections_total 3\n'),
      certificates: () => Promise.resolve([{ name: 'example.org', daysLeft: 41 }]),
    });
    const t2 = await withCerts.text();
    expect(t2).toContain(`${AGENT_METRICS.certificateDaysLeft}{name="example.org"} 41`);
    expect(t2).toMatch(/bulwark_router_up 1\n[\s\S]*bulwark_router_connections_total 3\n$/);
  });
});

describe('metrics: config', () => {
  it('a port another service uses is refused, naming the field', () => {
    const base = {
      cluster: 'c',
      nodes: [{ name: 'n1', ssh: 'root@198.51.100.11', endpoint: '192.0.2.11' }],
      router: { realms: [{ name: 'app', roles: [{ name: 'r', permissions: [] }] }], listeners: [{ type: 'websocket', port: 443 }] },
    };
    const r = configSchema.safeParse({ ...base, metrics: { port: 7946 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ['metrics', 'port'], message: '7946 is also mesh.agentPort' });
    expect(configSchema.safeParse({ ...base, metrics: { port: 7946, enabled: false } }).success).toBe(true);
    expect(configSchema.parse(base).metrics).toEqual({ enabled: true, port: 9110, auditEveryMinutes: 15 });
  });
});
