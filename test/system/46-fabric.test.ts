import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callThroughNode, OutsideSession, outsideTrust } from '../helpers/apps.js';
import { buildAppImageArchive, echoAppSpec } from '../helpers/image-app.js';
import { loadConfig } from '../../src/config/index.js';
import { allocateAddresses } from '../../src/mesh/addresses.js';
import { bulwark, LAB_CONFIG, LAB_NODES, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';

// The cluster fabric's host side on the bootstrapped lab: nats-server on every node, routes over bw0
// with mutual TLS, clients on 127.0.0.1 only (and through the router's socket), the route port closed to
// the outside, and audit's fabric checks passing. Then the router side: one WAMP router across the nodes
// (an app on n3 called through n1, its events reaching a subscriber on n2), and n3's machine stopped and
// started again (the others keep serving, n3's procedure is gone within 3 s, n3 rejoins by itself).
const cfg = loadConfig(LAB_CONFIG);
const mesh = allocateAddresses(
  cfg.mesh.cidr,
  cfg.nodes.map((n) => n.name),
  cfg.mesh.addresses,
);
const NODE = '/usr/lib/bulwark/node';
const dir = mkdtempSync(join(tmpdir(), 'bw-fabric-'));
const sessions: OutsideSession[] = [];
let acmeRoot: string | undefined;
const trust = async (n: (typeof LAB_NODES)[number]) => outsideTrust(n, LAB_CONFIG, acmeRoot, dir);
const N1 = LAB_NODES[0]!;
const N2 = LAB_NODES[1]!;
afterAll(async () => {
  for (const s of sessions) s.close();
  // n3 running again whatever happened above (the files after this one need all three nodes)
  await bulwark(['lab', 'start', 'n3'], { config: '', timeoutMs: 180_000 });
  await bulwark(['app', 'remove', 'echo3', '--node', 'n3']);
  rmSync(dir, { recursive: true, force: true });
});
const fetchJs = (path: string) => `fetch('http://127.0.0.1:8222${path}').then(r=>r.json()).then(j=>console.log(JSON.stringify(j)))`;

/** What a node says about its fabric, for a failure message. */
async function diagnose(node: string): Promise<string> {
  const r = await onMachine(
    node,
    'systemctl --no-pager status bulwark-nats.service bulwark-nats-proxy.socket 2>&1 | tail -20; journalctl -u bulwark-agent --no-pager 2>&1 | grep -E "fabric|error" | tail -15 | cut -c1-600; cat /var/lib/bulwark/mesh/members.json 2>&1 | head -c 300',
    60_000,
  );
  const s = await bulwark(['status', '--all']);
  return `${node}:\n${r.stdout}${r.stderr}\nstatus:\n${s.stdout}${s.stderr}`;
}

async function routez(node: string): Promise<{ routes: { ip: string; rtt?: string }[] } | undefined> {
  const r = await onMachine(node, `${NODE} -e "${fetchJs('/routez')}"`, 30_000);
  return r.code === 0 ? (JSON.parse(r.stdout) as { routes: { ip: string; rtt?: string }[] }) : undefined;
}

describe('fabric (nats-server) on the lab', () => {
  it('runs on all three nodes with routes up to both others over bw0', async () => {
    for (const n of LAB_NODES) {
      const want = LAB_NODES.filter((x) => x.name !== n.name)
        .map((x) => mesh.get(x.name))
        .sort();
      const waited = waitFor(
        `${n.name} routes to ${want.join(', ')}`,
        async () => {
          const rz = await routez(n.name);
          const ips = [...new Set((rz?.routes ?? []).map((r) => r.ip))].sort();
          return JSON.stringify(ips) === JSON.stringify(want) ? rz : undefined;
        },
        180_000,
        2000,
      ).catch(async (e: unknown) => {
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n${await diagnose(n.name)}`);
      });
      const { value } = await waited;
      expect(value.routes.length, n.name).toBeGreaterThanOrEqual(2);
      const a = await onMachine(n.name, 'systemctl is-active bulwark-nats.service bulwark-nats-proxy.socket; systemctl is-enabled nats-server.service');
      expect(a.stdout.split('\n').slice(0, 3), n.name).toEqual(['active', 'active', 'masked']);
    }
  }, 400_000);

  it('listens for clients on 127.0.0.1 only and for routes on the mesh address only', async () => {
    for (const n of LAB_NODES) {
      const r = await onMachine(n.name, 'ss -Htln');
      const on = (port: number) =>
        r.stdout
          .split('\n')
          .map((l) => l.trim().split(/\s+/)[3] ?? '')
          .filter((a) => a.endsWith(`:${port}`))
          .sort();
      expect(on(4222), n.name).toEqual(['127.0.0.1:4222']);
      expect(on(6222), n.name).toEqual([`${mesh.get(n.name)}:6222`]);
      expect(on(8222), n.name).toEqual(['127.0.0.1:8222']);
    }
  });

  it("the router's socket reaches the local nats-server, which refuses a client without credentials", async () => {
    const js = `const s=require('net').connect('/run/bulwark/fabric/nats.sock');let b='';s.on('data',d=>{b+=d;if(b.includes('\\\\r\\\\n')&&!b.includes('SENT')){b+='SENT';s.write('CONNECT {}\\\\r\\\\nPING\\\\r\\\\n')}if(/-ERR/.test(b)){console.log(b.replace(/\\\\r\\\\n/g,' '));process.exit(0)}});setTimeout(()=>{console.log('timeout '+b);process.exit(0)},5000)`;
    const r = await onMachine('n1', `${NODE} -e "${js}"`, 30_000);
    expect(r.stdout, r.stderr).toMatch(/"server_name":"n1"/);
    expect(r.stdout).toMatch(/Authorization Violation/);
    const f = await onMachine('n1', 'stat -c "%a %u" /etc/bulwark/fabric/router.nk /var/lib/bulwark/fabric/route.key; cat /etc/bulwark/fabric/router.json');
    const [seed, key] = f.stdout.split('\n');
    expect(seed).toBe(`400 ${cfg.apps.routerUid}`);
    expect(key).toBe('600 0');
    expect(JSON.parse(f.stdout.split('\n').slice(2).join('\n'))).toMatchObject({ node: 'n1', nats: { url: 'nats://127.0.0.1:4222', socket: '/run/bulwark/fabric/nats.sock' } });
  });

  it('the route port is not reachable from the outside network', async () => {
    const n1 = LAB_NODES[0];
    const nm = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'nmap', '-n', '-Pn', '-sT', '-T4', '--max-retries', '1', '-p', '6222,4222,8222', '-oG', '-', n1.pub], { timeoutMs: 120_000 });
    expect(nm.code, nm.stderr).toBe(0);
    expect(nm.stdout).toMatch(/6222\/filtered\/tcp/);
    expect(nm.stdout).toMatch(/4222\/filtered\/tcp/);
    expect(nm.stdout).toMatch(/8222\/filtered\/tcp/);
  });

  it("bulwark status shows the routes; audit's fabric checks pass on every node", async () => {
    const shows = (out: string) => LAB_NODES.every((n) => new RegExp(`${n.name} [^\\n]*\\n(  [^\\n]*\\n)*  fabric: routes 2/2 up`).test(out));
    const { value: status } = await waitFor(
      "status with every node's routes up",
      async () => {
        const s = await bulwark(['status', '--all']);
        return shows(s.stdout) ? s.stdout : undefined;
      },
      90_000,
      5000,
    );
    expect(status).toMatch(/fabric: routes 2\/2 up: n\d \(rtt [^)]+\), n\d \(rtt/);
    const r = await bulwark(['audit', '--all', '--json']);
    const j = JSON.parse(r.stdout) as { nodes: { node: string; checks: { id: string; status: string; evidence: string }[] }[] };
    expect(j.nodes).toHaveLength(3);
    for (const n of j.nodes) {
      const fabric = n.checks.filter((c) => c.id.startsWith('fabric.') || c.id === 'unit.bulwark-nats.service.exposure');
      expect(fabric.map((c) => c.id).sort(), n.node).toEqual(
        [
          'fabric.active',
          'fabric.anonymous-refused',
          'fabric.client-auth',
          'fabric.client-loopback',
          'fabric.firewall',
          'fabric.listeners',
          'fabric.monitor-loopback',
          'fabric.package-unit-masked',
          'fabric.route-mesh-only',
          'fabric.route-tls',
          'fabric.socket-private',
          'unit.bulwark-nats.service.exposure',
        ].sort(),
      );
      for (const c of fabric) expect(c.status, `${n.node} ${c.id}: ${c.evidence}`).toBe('pass');
    }
  });

  it('one WAMP router across the nodes: an app on n3 answers a wss client connected to n1', async () => {
    const { archive } = await buildAppImageArchive(echoAppSpec(resolve('test/fixtures/echo-app')));
    const add = await bulwark(['app', 'add', 'echo3', '--image-archive', archive, '--realm', 'app', '--role', 'backend', '--node', 'n3'], { timeoutMs: 300_000 });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const onN1 = await onMachine('n1', 'systemctl is-active bulwark-app@echo3.service');
    expect(onN1.stdout.trim()).not.toBe('active');
    // the echo app registers com.example.<its app name>; it runs on n3 only, the client connects to n1
    acmeRoot = (JSON.parse((await bulwark(['lab', 'status', '--json'], { config: '' })).stdout) as { acme?: { root: string } }).acme?.root;
    const r = await callThroughNode(N1, 'com.example.echo3', [], 90_000, LAB_CONFIG, acmeRoot, dir);
    const why = r.ok ? '' : (await onMachine('n1', 'journalctl -u bulwark-router --no-pager | grep -iE "fabric|nats" | tail -15 | cut -c1-400')).stdout;
    expect(r, `${JSON.stringify(r)}\n${why}`).toMatchObject({ ok: true, result: [] });
  }, 600_000);

  it('events cross nodes: a subscriber connected to n2 gets, in order, what the app on n3 publishes (publisher disclosed)', async () => {
    const sub = new OutsideSession(`wss://${N2.pub}/`, await trust(N2));
    sessions.push(sub);
    await sub.next((l) => l.open === true, 20_000);
    sub.send('sub com.example.fabric.news');
    await sub.next((l) => l.subscribed === 'com.example.fabric.news', 10_000);
    const caller = new OutsideSession(`wss://${N1.pub}/`, await trust(N1));
    sessions.push(caller);
    await caller.next((l) => l.open === true, 20_000);
    for (let i = 1; i <= 20; i++) {
      const r = await caller.call('com.example.echo3.publish', ['com.example.fabric.news', i]);
      expect(r, JSON.stringify(r)).toMatchObject({ call: 'result' });
    }
    await sub.next((l) => l.event !== undefined && JSON.stringify(l.args) === '[20]', 10_000);
    const got = sub.lines.filter((l) => l.event === 'com.example.fabric.news');
    expect(got.map((l) => (l.args ?? [])[0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(got.every((l) => l.publisher === 'echo3')).toBe(true);
  }, 120_000);

  it("n3's machine stopped: n1 and n2 keep serving, n3's procedure answers no_such_procedure within 3 s, and n3 rejoins by itself", async () => {
    const caller = new OutsideSession(`wss://${N1.pub}/`, await trust(N1));
    sessions.push(caller);
    await caller.next((l) => l.open === true, 20_000);
    expect(await caller.call('com.example.echo3', ['before'])).toMatchObject({ call: 'result', result: 'before' });
    const subscriber = sessions[0]!;
    const stop = await bulwark(['lab', 'stop', 'n3'], { config: '', timeoutMs: 120_000 });
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    const stopped = Date.now();
    // calls through n1 during and after the stop: each is answered, never hangs (one in flight when n3's
    // router went is wamp.error.canceled, as documented); then the procedure is gone
    let gone: Awaited<ReturnType<OutsideSession['call']>> | undefined;
    while (!gone && Date.now() - stopped < 15_000) {
      const r = await caller.call('com.example.echo3', ['during'], 10_000);
      if (r.call === 'error' && r.error !== 'wamp.error.canceled') gone = r;
      else await new Promise((res) => setTimeout(res, 100));
    }
    process.stderr.write(`[system] fabric: n3 stopped -> its procedure gone on n1 after ${gone ? gone.at - stopped : 'never'} ms (from the machine gone)\n`);
    expect(gone?.error).toBe('wamp.error.no_such_procedure');
    expect(gone!.at - stopped).toBeLessThan(3000);
    // the others keep serving: the sessions open before stay open, new ones open on n1 and n2
    expect(subscriber.exited, 'the subscriber on n2 lost its session').toBe(false);
    expect(caller.exited).toBe(false);
    for (const n of [N1, N2]) {
      const s = new OutsideSession(`wss://${n.pub}/`, await trust(n));
      sessions.push(s);
      await s.next((l) => l.open === true, 20_000);
      expect(await s.call('com.example.echo3', [])).toMatchObject({ call: 'error', error: 'wamp.error.no_such_procedure' });
    }
    // n3 back: nothing but starting the machine; the app on n3 answers through n1 again
    const start = await bulwark(['lab', 'start', 'n3'], { config: '', timeoutMs: 180_000 });
    expect(start.code, start.stdout + start.stderr).toBe(0);
    const started = Date.now();
    const back = await waitFor(
      "n3's procedure through n1",
      async () => {
        const r = await caller.call('com.example.echo3', ['after'], 10_000);
        return r.call === 'result' ? r : undefined;
      },
      180_000,
      1000,
    );
    process.stderr.write(`[system] fabric: n3 started -> its procedure answers through n1 after ${Date.now() - started} ms\n`);
    expect(back.value.result).toBe('after');
    // and n3 is a full member again: routes up, agent reconciled
    await waitFor(
      'n3 reconciled with its fabric routes up',
      async () => {
        const st = await onMachine('n3', 'systemctl show -p StatusText --value bulwark-agent', 15_000);
        return /reconciled/.test(st.stdout) && !/failing/.test(st.stdout);
      },
      120_000,
      2000,
    );
  }, 600_000);
});
