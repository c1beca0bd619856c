import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { diffTable } from '../../../src/firewall/compare.js';
import { applyPlan, readTable } from '../../../src/firewall/nft.js';
import { aptMirrorTargets, factsFromConfig, resolveMirrors } from '../../../src/firewall/node-facts.js';
import { planFirewall } from '../../../src/firewall/plan.js';
import { run, runOk } from '../../../src/util/exec.js';
import { addNetns, delNetns, inNs } from '../firewall/netns.js';

// A node namespace with the firewall Bulwark plans for a config with package mirrors, and an "outside"
// namespace holding the mirror (192.0.2.1) and a host that is not one (192.0.2.2), both serving 80 and 8080.
const NODE = 'bwt-upd-n';
const OUT = 'bwt-upd-o';
const SERVER = fileURLToPath(new URL('../firewall/server.mjs', import.meta.url));
const APT_UID = 42;
const children: ChildProcess[] = [];

const CONFIG = parseConfig(`cluster: t
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
firewall: { managementNetworks: [198.51.100.0/24] }
provisioning:
  packages:
    mirrors: [http://192.0.2.1/debian]
    securityMirror: http://192.0.2.1/debian-security
`);

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

/** A TCP connect from the node namespace, as root or as apt's download user. */
async function connects(host: string, port: number, asApt: boolean): Promise<boolean> {
  const who = asApt ? ['setpriv', `--reuid=${APT_UID}`, '--regid=65534', '--clear-groups'] : [];
  const r = await run([...who, 'timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { netns: NODE, timeoutMs: 10_000 });
  return r.code === 0;
}

describe('firewall egress to the package mirrors, with real packets', () => {
  beforeAll(async () => {
    await addNetns(NODE);
    await addNetns(OUT);
    await runOk(['ip', 'link', 'add', 'updn0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'updo0', 'netns', OUT]);
    await inNs(NODE, 'ip', 'addr', 'add', '192.0.2.11/24', 'dev', 'updn0');
    for (const a of ['192.0.2.1/24', '192.0.2.2/24']) await inNs(OUT, 'ip', 'addr', 'add', a, 'dev', 'updo0');
    await inNs(NODE, 'ip', 'link', 'set', 'updn0', 'up');
    await inNs(OUT, 'ip', 'link', 'set', 'updo0', 'up');
    await startServer(OUT, 'tcp:80', 'tcp:8080');
    // without a ruleset every one connects, so a refusal below is the firewall's doing
    expect(await connects('192.0.2.2', 80, false)).toBe(true);
    expect(await connects('192.0.2.1', 8080, true)).toBe(true);
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await delNetns(NODE, OUT);
  });

  it('nft takes the plan and lists it back unchanged', async () => {
    const mirrorAddresses = await resolveMirrors(aptMirrorTargets(CONFIG).map((t) => t.host));
    const plan = planFirewall(CONFIG.firewall, factsFromConfig(CONFIG, 'n1', { resolvers: [], aptUid: APT_UID, mirrorAddresses }));
    await applyPlan(plan, { netns: NODE });
    expect(diffTable(plan, await readTable({ netns: NODE })).changes).toEqual([]);
  });

  it("apt's user reaches the mirror's port; root does not, and neither reaches another host or port", async () => {
    expect(await connects('192.0.2.1', 80, true)).toBe(true);
    expect(await connects('192.0.2.1', 80, false)).toBe(false);
    expect(await connects('192.0.2.2', 80, true)).toBe(false);
    expect(await connects('192.0.2.1', 8080, true)).toBe(false);
  });
});
