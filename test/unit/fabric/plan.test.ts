import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allocateAddresses } from '../../../src/mesh/addresses.js';
import { planFabric, routesFile } from '../../../src/fabric/plan.js';
import { fabricSchema } from '../../../src/fabric/schema.js';
import { parseMemberNames } from '../../../src/fabric/members.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { factsFromConfig, parseFabricRoutes } from '../../../src/firewall/node-facts.js';
import { tableText } from '../../../src/firewall/render-text.js';
import { routeStates, routesLine } from '../../../src/fabric/routez.js';
import { acceptablePeerCert } from '../../../src/fabric/reconciler.js';
import { routeCertDue } from '../../../src/fabric/keys.js';
import { boundOnlyTo, parseListeners } from '../../../src/fabric/audit.js';
import { withFabric } from '../../../src/containers/router-fabric.js';
import { routerFabricSection } from '../../../src/fabric/render.js';
import { routerSchema } from '../../../src/router/config.js';
import { configSchema } from '../../../src/config/schema.js';

const CIDR = '10.77.0.0/24';
const base = (members: string[] | undefined, self = 'n1', known: string[] = ['n2', 'n3']) =>
  planFabric({
    cluster: 'lab',
    fabric: fabricSchema.parse({}),
    meshInterface: 'bw0',
    nodeName: self,
    members,
    addresses: allocateAddresses(CIDR, members ?? [self]),
    knownCerts: new Set(known),
  });

describe('planFabric', () => {
  it('no NATS on one node, before joining, or when disabled', () => {
    expect(base(['n1'])).toEqual({ active: false, reason: 'one-node cluster: no NATS' });
    expect(base(undefined)).toMatchObject({ active: false, reason: 'not a mesh member yet' });
    expect(base(['n2', 'n3'])).toMatchObject({ active: false, reason: 'not a mesh member yet' });
    expect(
      planFabric({
        cluster: 'lab',
        fabric: fabricSchema.parse({ enabled: false }),
        meshInterface: 'bw0',
        nodeName: 'n1',
        members: ['n1', 'n2'],
        addresses: allocateAddresses(CIDR, ['n1', 'n2']),
        knownCerts: new Set(),
      }).active,
    ).toBe(false);
  });
  it('routes to every other member at its mesh address; a join adds one, a removal drops one', () => {
    const addrs = allocateAddresses(CIDR, ['n1', 'n2', 'n3']);
    const three = base(['n1', 'n2', 'n3']);
    expect(three).toEqual({
      active: true,
      self: { name: 'n1', address: addrs.get('n1') },
      peers: [
        { name: 'n2', address: addrs.get('n2'), certKnown: true },
        { name: 'n3', address: addrs.get('n3'), certKnown: true },
      ],
      clusterName: 'bulwark-lab',
      routePort: 6222,
      meshInterface: 'bw0',
    });
    const two = base(['n1', 'n2']);
    expect(two.active && two.peers.map((p) => p.name)).toEqual(['n2']);
    const unknown = base(['n1', 'n2', 'n3'], 'n1', ['n2']);
    expect(unknown.active && unknown.peers.map((p) => p.certKnown)).toEqual([true, false]);
    if (three.active)
      expect(routesFile(three)).toEqual({
        port: 6222,
        interface: 'bw0',
        self: addrs.get('n1'),
        peers: [
          { name: 'n2', address: addrs.get('n2') },
          { name: 'n3', address: addrs.get('n3') },
        ],
      });
  });
  it('reads member names from the mesh file, ignoring junk', () => {
    expect(parseMemberNames('[{"name":"n1","endpoint":"x"},{"name":"N2"},{"nope":1}]')).toEqual(['n1']);
    expect(parseMemberNames('{')).toBeUndefined();
    expect(parseMemberNames(undefined)).toBeUndefined();
  });
});

describe('firewall: the route port', () => {
  const config = configSchema.parse({
    cluster: 'lab',
    nodes: [
      { name: 'n1', ssh: 'root@192.0.2.11', endpoint: '192.0.2.11' },
      { name: 'n2', ssh: 'root@192.0.2.12', endpoint: '192.0.2.12' },
    ],
  });
  const routes = parseFabricRoutes(JSON.stringify({ port: 6222, interface: 'bw0', self: '10.77.0.5', peers: [{ name: 'n2', address: '10.77.0.9' }] }));
  it('is opened on bw0 from the route peers only, and dialled to them only', () => {
    const plan = planFirewall(config.firewall, factsFromConfig(config, 'n1', { resolvers: [], fabricRoutes: routes }));
    const allow = plan.inputAllows.find((a) => a.id === 'in-fabric-routes');
    expect(allow).toMatchObject({ proto: 'tcp', ports: [[6222, 6222]], iifname: 'bw0' });
    expect(allow?.from?.map((c) => c.len)).toEqual([32]);
    const text = tableText(plan);
    expect(text).toMatch(/iifname "bw0" ip saddr @fabric_peers4 tcp dport 6222 .*accept/);
    expect(text).toMatch(/oifname "bw0" ip daddr @fabric_peers4 tcp dport 6222 .*accept/);
    expect(text).toMatch(/set fabric_peers4 \{[^}]*10\.77\.0\.9/);
    // nothing else accepts 6222
    expect(plan.inputAllows.filter((a) => a.ports.some(([lo, hi]) => lo <= 6222 && 6222 <= hi)).map((a) => a.id)).toEqual(['in-fabric-routes']);
  });
  it('is closed without a route list (one node, or before the fabric runs)', () => {
    for (const fr of [undefined, { port: 6222, peers: [] }]) {
      const plan = planFirewall(config.firewall, factsFromConfig(config, 'n1', { resolvers: [], ...(fr ? { fabricRoutes: fr } : {}) }));
      expect(plan.inputAllows.some((a) => a.id === 'in-fabric-routes')).toBe(false);
      expect(tableText(plan)).not.toContain('6222');
    }
  });
  it('reads routes.json defensively', () => {
    expect(parseFabricRoutes('{"port":70000,"peers":[]}')).toBeUndefined();
    expect(parseFabricRoutes('{"port":6222,"peers":[{"address":"not-ip"},{"address":"10.77.0.2"}]}')).toEqual({ port: 6222, peers: ['10.77.0.2'] });
    expect(parseFabricRoutes('nope')).toBeUndefined();
  });
});

describe('status and audit helpers', () => {
  const peers = [
    { name: 'n2', address: '10.77.0.9' },
    { name: 'n3', address: '10.77.0.7' },
  ];
  it('routes up per peer from /routez, with RTT', () => {
    const states = routeStates(peers, { routes: [{ ip: '10.77.0.9', rtt: '1.2ms' }] });
    expect(routesLine(states)).toBe('fabric: routes 1/2 up: n2 (rtt 1.2ms), n3 DOWN');
  });
  it('listeners from ss: the client port on loopback only passes, a wildcard fails', () => {
    const ls = parseListeners('LISTEN 0 4096 127.0.0.1:4222 0.0.0.0:*\nLISTEN 0 4096 10.77.0.5:6222 0.0.0.0:*\nLISTEN 0 4096 [::]:8222 [::]:*\n');
    expect(ls).toEqual([
      { address: '127.0.0.1', port: 4222 },
      { address: '10.77.0.5', port: 6222 },
      { address: '::', port: 8222 },
    ]);
    expect(boundOnlyTo(ls, 4222, '127.0.0.1', 'x', 'b').status).toBe('pass');
    expect(boundOnlyTo(ls, 6222, '10.77.0.5', 'x', 'b').status).toBe('pass');
    expect(boundOnlyTo(ls, 8222, '127.0.0.1', 'x', 'b').status).toBe('fail');
    expect(boundOnlyTo(ls, 4223, '127.0.0.1', 'x', 'b').status).toBe('fail');
  });
});

describe('route certificates', () => {
  const pem = (): Promise<string> =>
    import('node:child_process').then(({ execFileSync }) =>
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null', '-days', '10', '-subj', '/CN=t', '-addext', 'subjectAltName=IP:10.77.0.9'],
        { encoding: 'utf8' },
      ),
    );
  it("a peer's certificate is accepted only for that peer's mesh address; a near-expiry one is remade", async () => {
    const p = await pem();
    expect(acceptablePeerCert(p, '10.77.0.9')).toBe(true);
    expect(acceptablePeerCert(p, '10.77.0.7')).toBe(false);
    expect(acceptablePeerCert('junk', '10.77.0.9')).toBe(false);
    expect(routeCertDue(undefined, '10.77.0.9', new Date())).toBe('missing');
    expect(routeCertDue(p, '10.77.0.7', new Date())).toMatch(/made for 10.77.0.9/);
    expect(routeCertDue(p, '10.77.0.9', new Date())).toMatch(/expires/); // 10 days < 30
  });
});

describe("the router's fabric section", () => {
  const section = { node: 'n1', nats: { url: 'nats://127.0.0.1:4222' } };
  it('a router schema without the key: the router runs alone and says so', () => {
    const r = routerSchema.parse({});
    const old = z.strictObject({ realms: z.array(z.string()).default([]) });
    expect(withFabric({ realms: [] }, section, old)).toEqual({ cfg: { realms: [] }, skipped: expect.stringMatching(/no fabric support/) });
    void r;
  });
  it("the router's own schema takes the section the agent renders", () => {
    const rendered = routerFabricSection('n2', fabricSchema.parse({}), '/run/bulwark/fabric/nats.sock', '/etc/bulwark/fabric/router.nk');
    const out = withFabric(routerSchema.parse({}), rendered);
    expect(out.skipped).toBeUndefined();
    expect((out.cfg as { fabric?: unknown }).fabric).toEqual(rendered);
  });
  it('a router schema with the key gets the section; a bad section is an error, not silence', () => {
    const withKey = z.strictObject({ realms: z.array(z.string()).default([]), fabric: z.strictObject({ node: z.string(), nats: z.strictObject({ url: z.string() }) }).optional() });
    expect(withFabric({ realms: [] }, section, withKey).cfg).toEqual({ realms: [], fabric: section });
    expect(() => withFabric({ realms: [] }, { node: 3 }, withKey)).toThrow(/fabric section: fabric.node/);
  });
});
