import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan, readTableJson } from '../../../src/firewall/nft.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { dropCounters } from '../../../src/metrics/collect.js';
import { metricsExposure } from '../../../src/metrics/audit.js';
import { cidrToString } from '../../../src/firewall/cidr.js';
import { runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from '../firewall/netns.js';

// The metrics port behind real nft: a node namespace listening on 9110 on every address (so only the
// firewall decides), a client namespace holding an outside client (192.0.2.1), a management host
// (198.51.100.5) on the public link, and a mesh peer (10.77.0.2) behind the node's bw0.
const NODE = 'bwt-met-n';
const CLIENT = 'bwt-met-c';
const SERVER = fileURLToPath(new URL('../firewall/server.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('../firewall/probe.mjs', import.meta.url));
const PORT = 9110;
const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [], resolvers: [] as string[], meshCidr: '10.77.0.0/24', meshInterface: 'bw0', metricsPort: PORT };
const CFG = { managementNetworks: ['198.51.100.0/24'] };
const children: ChildProcess[] = [];

async function tcp(from: string, host: string): Promise<string> {
  const r = await runOk([process.execPath, PROBE, 'tcp', host, String(PORT), from, '1000', '1'], { netns: CLIENT, timeoutMs: 30_000 });
  return (JSON.parse(r.stdout) as string[])[0] as string;
}

describe('metrics port with real nft', () => {
  beforeAll(async () => {
    await addNetns(NODE);
    await addNetns(CLIENT);
    await runOk(['ip', 'link', 'add', 'met-n0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'met-c0', 'netns', CLIENT]);
    await runOk(['ip', 'link', 'add', 'bw0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'met-c1', 'netns', CLIENT]);
    for (const a of ['192.0.2.11/24', '198.51.100.11/24']) await inNs(NODE, 'ip', 'addr', 'add', a, 'dev', 'met-n0');
    await inNs(NODE, 'ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'bw0');
    for (const a of ['192.0.2.1/24', '198.51.100.5/24']) await inNs(CLIENT, 'ip', 'addr', 'add', a, 'dev', 'met-c0');
    await inNs(CLIENT, 'ip', 'addr', 'add', '10.77.0.2/24', 'dev', 'met-c1');
    for (const [ns, dev] of [
      [NODE, 'met-n0'],
      [NODE, 'bw0'],
      [CLIENT, 'met-c0'],
      [CLIENT, 'met-c1'],
    ] as const)
      await inNs(ns, 'ip', 'link', 'set', dev, 'up');
    const child = spawn('ip', ['netns', 'exec', NODE, process.execPath, SERVER, `tcp:${PORT}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server not ready')), 10_000);
      child.stdout?.on('data', (b: Buffer) => b.toString().includes('ready') && (clearTimeout(t), resolve()));
    });
    // without a ruleset the public side reaches the port (so a timeout below is the firewall's doing)
    expect(await tcp('192.0.2.1', '192.0.2.11')).toBe('open');
    await applyPlan(planFirewall(CFG, FACTS), { netns: NODE });
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, CLIENT);
  });

  it('a management host (198.51.100.5) reaches it, on either node address', async () => {
    expect(await tcp('198.51.100.5', '198.51.100.11')).toBe('open');
    expect(await tcp('198.51.100.5', '192.0.2.11')).toBe('open');
  });

  it('the public side (192.0.2.1) does not, and the drop is counted where the agent reads it', async () => {
    const before = dropCounters((await readTableJson({ netns: NODE }))!).find((c) => c.rule === 'in-drop')?.packets ?? 0;
    expect(await tcp('192.0.2.1', '192.0.2.11')).toBe('timeout');
    expect(await tcp('192.0.2.1', '198.51.100.11')).toBe('timeout');
    const after = dropCounters((await readTableJson({ netns: NODE }))!);
    expect(after.find((c) => c.rule === 'in-drop')!.packets).toBeGreaterThan(before);
    expect(after.map((c) => c.rule)).toEqual(expect.arrayContaining(['in-drop', 'out-drop', 'fwd-drop', 'in-invalid']));
  });

  it('a mesh member over bw0 (10.77.0.2) reaches it', async () => {
    expect(await tcp('10.77.0.2', '10.77.0.1')).toBe('open');
  });

  it('the audit check agrees with the plan', () => {
    const allows = (cfg: typeof CFG & { inbound?: { name: string; proto: 'tcp'; ports: number[] }[] }) =>
      planFirewall(cfg, FACTS).inputAllows.map((a) => ({ ...a, from: a.from === null ? null : a.from.map(cidrToString) }));
    expect(metricsExposure(PORT, allows(CFG), [], '192.0.2.11').status).toBe('pass');
    expect(metricsExposure(PORT, allows({ ...CFG, inbound: [{ name: 'oops', proto: 'tcp', ports: [PORT] }] }), [], '192.0.2.11').status).toBe('fail');
  });
});
