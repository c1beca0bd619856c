import { mkdirSync, readFileSync, writeFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { bulwark, LAB_CONFIG, onMachine, waitFor } from '../helpers/lab.js';

interface MeshStatus {
  nodes: { node: string; up: boolean; meshAddress: string; peers: { name: string; handshakeAgeSec: number | null; reachable: boolean; present: boolean }[] }[];
}

const scratch = mkdtempSync(join(tmpdir(), 'bw-mesh-'));
afterAll(async () => {
  // Back to the lab's own config (closes the test port again).
  await bulwark(['bootstrap', '--all']);
  await Promise.all(['n1', 'n3'].map((n) => onMachine(n, 'systemctl stop bwtest-echo.service 2>/dev/null; true')));
  rmSync(scratch, { recursive: true, force: true });
});

async function converged(): Promise<MeshStatus> {
  const { value } = await waitFor(
    'every peer with a handshake and reachable',
    async () => {
      const r = await bulwark(['mesh', 'status', '--json']);
      if (r.code !== 0) return undefined;
      const j = JSON.parse(r.stdout) as MeshStatus;
      const ok = j.nodes.length === 3 && j.nodes.every((n) => n.up && n.peers.length === 2 && n.peers.every((p) => p.present && p.reachable && p.handshakeAgeSec !== null));
      return ok ? j : undefined;
    },
    90_000,
    2_000,
  );
  return value;
}

describe('WireGuard mesh on the lab', () => {
  it('bootstrap --all joined the three nodes: every peer has a handshake and answers across the mesh', async () => {
    const st = await converged();
    expect(st.nodes.map((n) => n.node)).toEqual(['n1', 'n2', 'n3']);
    expect(new Set(st.nodes.map((n) => n.meshAddress)).size).toBe(3);
    const r = await bulwark(['bootstrap', '--all', '--json']);
    const j = JSON.parse(r.stdout) as { cluster: { step: string; changed: boolean; detail: string }[] };
    // the mesh step has nothing to do (the integrity step after it may record a manifest the tests before changed)
    expect(j.cluster.find((s) => s.step === 'mesh')).toEqual({ step: 'mesh', changed: false, detail: 'no changes' });
  });

  it('a key rotation from the operator machine keeps a TCP stream n1→n3 alive and loses at most 1 ping at 10 ms', async () => {
    const st = await converged();
    const n3 = st.nodes.find((n) => n.node === 'n3')!.meshAddress;
    // Open a test port across the mesh only (inbound rule limited to the mesh CIDR), via the normal config path.
    const dir = join(scratch, 'cfg');
    mkdirSync(dir, { recursive: true });
    const cfg = parse(readFileSync(LAB_CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
    cfg.firewall = {
      ...cfg.firewall,
      inbound: [{ name: 'meshtest', proto: 'tcp', ports: [7999], from: ['10.77.0.0/24'] }],
      egress: { allow: [{ name: 'meshtest', to: ['10.77.0.0/24'], proto: 'tcp', ports: [7999] }] },
    };
    const file = join(dir, 'bulwark.yaml');
    writeFileSync(file, stringify(cfg));
    copyFileSync(join(LAB_CONFIG, '..', 'bulwark.known_hosts'), join(dir, 'bulwark.known_hosts'));
    expect((await bulwark(['bootstrap', '--all'], { config: file })).code).toBe(0);

    const echo = `require('net').createServer((s) => s.pipe(s)).listen(7999, '${n3}')`;
    await onMachine('n3', `systemd-run -q --unit bwtest-echo /usr/lib/bulwark/node -e ${JSON.stringify(echo)}`);
    // Client: 1 KiB every 10 ms for 12 s; exits 0 only if every byte came back in order without an error.
    const client = `
      const s = require('net').connect(7999, '${n3}'); let sent = 0, got = Buffer.alloc(0), n = 0, bad = false;
      s.on('error', (e) => { console.log('error', e.message); process.exit(2); });
      s.on('data', (b) => { got = Buffer.concat([got, b]); });
      s.on('connect', () => { const t = setInterval(() => { const chunk = Buffer.alloc(1024, n++ % 251); s.write(chunk); sent += 1024;
        if (n === 1200) { clearInterval(t); setTimeout(() => { for (let i = 0; i < 1200; i++) if (got[i * 1024] !== i % 251) bad = true;
          console.log('sent', sent, 'echoed', got.length, bad ? 'OUT OF ORDER' : 'in order'); process.exit(got.length === sent && !bad ? 0 : 1); }, 2000); } }, 10); });`;
    await waitFor(
      'echo server',
      async () => (await onMachine('n1', `/usr/lib/bulwark/node -e "require('net').connect(7999,'${n3}').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"`)).code === 0,
      20_000,
      500,
    );
    const stream = onMachine('n1', `/usr/lib/bulwark/node -e ${JSON.stringify(client.replace(/\s*\n\s*/g, ' '))}`, 60_000);
    const pings = onMachine('n1', `ping -n -q -i 0.01 -c 1200 ${n3}`, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const rot = await bulwark(['keys', 'rotate', '--wireguard', '--node', 'n1'], { config: file, timeoutMs: 120_000 });
    expect(rot.code, rot.stdout + rot.stderr).toBe(0);
    const p = await pings;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(p.stdout);
    expect(m, p.stdout + p.stderr).not.toBeNull();
    const lost = Number(m![1]) - Number(m![2]);
    process.stderr.write(`[system] rotation under load: ${lost} of ${m![1]} pings lost\n`);
    expect(lost).toBeLessThanOrEqual(1);
    const s = await stream;
    expect(s.code, s.stdout + s.stderr).toBe(0);
    expect(s.stdout).toMatch(/sent 1228800 echoed 1228800 in order/);
    // The mesh is whole afterwards.
    await converged();
  });
  it('systemctl restart bulwark-agent leaves the tunnel up: wireguard-go keeps its PID and 10 ms pings lose nothing', async () => {
    const st = await converged();
    const n3 = st.nodes.find((n) => n.node === 'n3')!.meshAddress;
    const pid = async () => Number((await onMachine('n1', 'systemctl show -p MainPID --value bulwark-wireguard-go@bw0.service')).stdout.trim());
    const before = await pid();
    expect(before).toBeGreaterThan(0);
    const pings = onMachine('n1', `ping -n -q -i 0.01 -c 500 ${n3}`, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    const restart = await onMachine('n1', 'systemctl restart bulwark-agent && systemctl is-active bulwark-agent');
    expect(restart.stdout.trim(), restart.stderr).toBe('active');
    expect(Date.now() - t0, 'the agent stops promptly on SIGTERM').toBeLessThan(10_000);
    const p = await pings;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(p.stdout);
    expect(m, p.stdout + p.stderr).not.toBeNull();
    process.stderr.write(`[system] agent restart: ${Number(m![1]) - Number(m![2])} of ${m![1]} pings lost\n`);
    expect(Number(m![2])).toBe(Number(m![1]));
    expect(await pid()).toBe(before);
    await converged();
  });

  it('wireguard-go killed: systemd restarts it and the agent reconfigures bw0 at once', async () => {
    const st = await converged();
    const n3 = st.nodes.find((n) => n.node === 'n3')!.meshAddress;
    const before = Number((await onMachine('n1', 'systemctl show -p MainPID --value bulwark-wireguard-go@bw0.service')).stdout.trim());
    expect(before).toBeGreaterThan(0);
    await onMachine('n1', `kill -9 ${before}`);
    // the agent's reconcile timer is far longer than this: only its watch on the control socket is this quick
    const { ms } = await waitFor('n1 answers n3 across the mesh again', async () => (await onMachine('n1', `ping -n -q -c 1 -W 1 ${n3}`)).code === 0, 15_000, 100);
    process.stderr.write(`[system] wireguard-go killed -> mesh answers again after ${ms} ms\n`);
    const after = Number((await onMachine('n1', 'systemctl show -p MainPID --value bulwark-wireguard-go@bw0.service')).stdout.trim());
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect((await onMachine('n1', 'journalctl -u bulwark-agent --since "-1min" -o cat')).stdout).toMatch(/wireguard-go restarted by systemd; reconfiguring/);
    await converged();
  });

  it('mesh remove n3: every peer forgets it, its endpoint is closed, its keys are destroyed; mesh join brings it back', async () => {
    const rm = await bulwark(['mesh', 'remove', 'n3']);
    expect(rm.code, rm.stdout + rm.stderr).toBe(0);
    for (const n of ['n1', 'n2']) {
      const wg = await onMachine(n, 'wg show bw0 endpoints');
      expect(wg.stdout, n).not.toContain('192.0.2.13');
      const set = await onMachine(n, 'nft -j list set inet bulwark peers4');
      expect(set.stdout, n).not.toContain('192.0.2.13');
    }
    expect((await onMachine('n3', 'test -e /var/lib/bulwark/mesh/wg.key && echo present || echo gone')).stdout.trim()).toBe('gone');
    // n3's packets are dropped: nothing answers it across the mesh any more.
    const st = await bulwark(['mesh', 'status', '--json']);
    const n1 = (JSON.parse(st.stdout) as MeshStatus).nodes.find((n) => n.node === 'n1');
    expect(n1?.peers.map((p) => p.name)).toEqual(['n2']);
    const join = await bulwark(['mesh', 'join', 'n3']);
    expect(join.code, join.stdout + join.stderr).toBe(0);
    await converged();
    expect((await onMachine('n1', 'nft -j list set inet bulwark peers4')).stdout).toContain('192.0.2.13');
  });

  it('joining a node that was never bootstrapped is a clear error and changes nothing', async () => {
    await onMachine('n2', 'mv /usr/local/sbin/bulwark /usr/local/sbin/bulwark.away');
    try {
      const r = await bulwark(['mesh', 'join', 'n2']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/n2 has not been bootstrapped or cannot be reached: n2 is not bootstrapped \(no bulwark on it\)/);
    } finally {
      await onMachine('n2', 'mv /usr/local/sbin/bulwark.away /usr/local/sbin/bulwark');
    }
    await converged();
  });
});
