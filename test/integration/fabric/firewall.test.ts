import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/firewall/nft.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from '../firewall/netns.js';

// The fabric's route port behind real nft: a node namespace listening on 6222 on every address (so only
// the firewall decides), and a client namespace with an outside address (192.0.2.1) on the public link and,
// behind the node's bw0, a route peer (10.77.0.2) and a mesh address that is not a route peer (10.77.0.3).
const NODE = 'bwt-fabfw-n';
const CLIENT = 'bwt-fabfw-c';
const SERVER = fileURLToPath(new URL('../firewall/server.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('../firewall/probe.mjs', import.meta.url));
const PORT = 6222;
const FACTS = {
  self: { name: 'n1', endpoint: '192.0.2.11' },
  peers: [],
  resolvers: [] as string[],
  meshCidr: '10.77.0.0/24',
  meshInterface: 'bw0',
  fabricRoutes: { port: PORT, peers: ['10.77.0.2'] },
};
const children: ChildProcess[] = [];

async function tcp(from: string, host: string): Promise<string> {
  const r = await runOk([process.execPath, PROBE, 'tcp', host, String(PORT), from, '1000', '1'], { netns: CLIENT, timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as string[])[0] as string;
}

describe('fabric route port with real nft', () => {
  beforeAll(async () => {
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'fab-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'fab-c0', 'netns', CLIENT]);
    await runOk(['ip', 'link', 'add', 'bw0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'fab-c1', 'netns', CLIENT]);
    await inNs(NODE, 'ip', 'addr', 'add', '192.0.2.11/24', 'dev', 'fab-n0');
    await inNs(NODE, 'ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'bw0');
    await inNs(CLIENT, 'ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'fab-c0');
    for (const a of ['10.77.0.2/24', '10.77.0.3/24']) await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'fab-c1');
    for (const [ns, dev] of [
      [NODE, 'fab-n0'],
      [NODE, 'bw0'],
      [CLIENT, 'fab-c0'],
      [CLIENT, 'fab-c1'],
    ] as const)
      await inNs(ns, 'ip', 'link', 'set', dev, 'up');
    const child = spawn('ip', ['netns', 'exec', NODE, process.execPath, SERVER, `tcp:${PORT}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server not ready')), 10_000);
      child.stdout?.on('data', (b: Buffer) => b.toString().includes('ready') && (clearTimeout(t), resolve()));
    });
    // without a ruleset everyone reaches the port (so a timeout below is the firewall's doing)
    expect(await tcp('10.77.0.3', '10.77.0.1')).toBe('open');
    expect(await tcp('192.0.2.1', '192.0.2.11')).toBe('open');
    await applyPlan(planFirewall({}, FACTS), { netns: NODE });
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, CLIENT);
  });

  it('a route peer over bw0 reaches it', async () => {
    expect(await tcp('10.77.0.2', '10.77.0.1')).toBe('open');
  });
  it('another mesh address over bw0 does not, nor the public side', async () => {
    expect(await tcp('10.77.0.3', '10.77.0.1')).toBe('timeout');
    expect(await tcp('192.0.2.1', '192.0.2.11')).toBe('timeout');
  });
  it('with no route list the port is closed to the peer too', async () => {
    const { fabricRoutes: _omit, ...rest } = FACTS;
    await applyPlan(planFirewall({}, rest), { netns: NODE });
    expect(await tcp('10.77.0.2', '10.77.0.1')).toBe('timeout');
  });
});
