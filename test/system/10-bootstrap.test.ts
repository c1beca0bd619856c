import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { bulwark, LAB_CONFIG, LAB_NODES, onMachine, runCmd, waitFor } from '../helpers/lab.js';

interface BootstrapJson {
  ok: boolean;
  nodes: { node: string; ok: boolean; unchanged: boolean; error?: string; steps: { step: string; changed: boolean; detail: string }[] }[];
}

const scratch = mkdtempSync(join(tmpdir(), 'bw-sys-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the lab config (and its pinned host keys) that a test may change freely. */
function scratchConfig(name: string, edit?: (cfg: Record<string, unknown>) => void): string {
  const dir = join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cfg = parse(readFileSync(LAB_CONFIG, 'utf8')) as Record<string, unknown>;
  edit?.(cfg);
  const file = join(dir, 'bulwark.yaml');
  writeFileSync(file, stringify(cfg));
  copyFileSync(join(LAB_CONFIG, '..', 'bulwark.known_hosts'), join(dir, 'bulwark.known_hosts'));
  return file;
}

async function mainPid(node: string): Promise<number> {
  const r = await onMachine(node, 'systemctl show -p MainPID --value bulwark-agent');
  return Number(r.stdout.trim());
}

describe('bootstrap on three fresh lab machines', () => {
  it('the first bootstrap provisioned every node (packages, runtime, agent)', () => {
    const j = JSON.parse(inject('firstBootstrap')) as BootstrapJson;
    expect(j.ok).toBe(true);
    expect(j.nodes.map((n) => n.node).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const n of j.nodes) {
      const changed = n.steps.filter((s) => s.changed).map((s) => s.step);
      expect(changed).toEqual(expect.arrayContaining(['packages', 'runtime', 'config', 'agent']));
      expect(n.steps.find((s) => s.step === 'runtime')?.detail).toMatch(/verified/);
    }
  });

  it('on every machine the agent is active under systemd and publishes its status line', async () => {
    for (const n of LAB_NODES) {
      const r = await onMachine(n.name, 'systemctl is-active bulwark-agent; systemctl show -p StatusText --value bulwark-agent; command -v node || echo no-distro-node');
      const [active, status, nodeBin] = r.stdout.trim().split('\n');
      expect(active, n.name).toBe('active');
      expect(status, n.name).toMatch(/reconciled/);
      // Bulwark runs on its own runtime: the node needs no Node.js of its own.
      expect(nodeBin).toBe('no-distro-node');
    }
  });

  it('status --all --json lists the three nodes', async () => {
    const r = await bulwark(['status', '--all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { nodes: { node: string; ok: boolean; version: string; uptimeSec: number }[] };
    expect(j.nodes.map((n) => n.node)).toEqual(['n1', 'n2', 'n3']);
    for (const n of j.nodes) {
      expect(n.ok).toBe(true);
      expect(n.version).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('a second bootstrap reports no changes and restarts nothing', async () => {
    const before = await Promise.all(LAB_NODES.map((n) => mainPid(n.name)));
    const r = await bulwark(['bootstrap', '--all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as BootstrapJson;
    for (const n of j.nodes) {
      expect(n.unchanged, `${n.node}: ${JSON.stringify(n.steps)}`).toBe(true);
      for (const s of n.steps.filter((x) => x.step !== 'preflight')) expect(s.detail).toBe('no changes');
    }
    const after = await Promise.all(LAB_NODES.map((n) => mainPid(n.name)));
    expect(after).toEqual(before);
  });

  it('a config file whose group or mode drifted is set right again and reported as a change', async () => {
    const stat = async () => (await onMachine('n1', 'stat -c %G:%a /etc/bulwark/bulwark.yaml')).stdout.trim();
    const good = await stat();
    expect(good).toMatch(/:640$/);
    await onMachine('n1', 'chgrp root /etc/bulwark/bulwark.yaml && chmod 0644 /etc/bulwark/bulwark.yaml');
    const r = await bulwark(['bootstrap', 'n1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const config = (JSON.parse(r.stdout) as BootstrapJson).nodes[0]!.steps.find((s) => s.step === 'config')!;
    expect(config.changed).toBe(true);
    expect(config.detail).toMatch(/set group \d+ and mode 0640 on \/etc\/bulwark\/bulwark\.yaml/);
    expect(await stat()).toBe(good);
  });

  it('kill -9 of the agent: systemd has it active again within 5 s', async () => {
    const pid = await mainPid('n2');
    expect(pid).toBeGreaterThan(0);
    await onMachine('n2', `kill -9 ${pid}`);
    const { ms } = await waitFor(
      'agent restarted',
      async () => {
        const r = await onMachine('n2', 'systemctl is-active bulwark-agent; systemctl show -p MainPID --value bulwark-agent');
        const [state, p] = r.stdout.trim().split('\n');
        return state === 'active' && Number(p) > 0 && Number(p) !== pid;
      },
      5_000,
      100,
    );
    expect(ms).toBeLessThan(5_000);
  });
});

describe('bootstrap refuses bad situations clearly', () => {
  it('a changed host key is refused with exit 3 and nothing is touched on that node', async () => {
    const file = scratchConfig('hostkey');
    const kh = join(file, '..', 'bulwark.known_hosts');
    // Pin a different key for n1, as if the server had been replaced.
    const keyFile = join(scratch, 'other_key');
    await runCmd(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const otherBlob = readFileSync(`${keyFile}.pub`, 'utf8').split(' ')[1];
    writeFileSync(kh, readFileSync(kh, 'utf8').replace(/^(198\.51\.100\.11:22) (\S+) (\S+)$/m, `$1 ssh-ed25519 ${otherBlob}`));
    // The config differs from what n1 has, so a bootstrap that got through would rewrite it.
    writeFileSync(file, readFileSync(file, 'utf8') + '# changed\n');
    const before = await onMachine('n1', 'sha256sum /etc/bulwark/bulwark.yaml');
    const r = await bulwark(['bootstrap', 'n1'], { config: file });
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/HOST KEY CHANGED for 198\.51\.100\.11:22/);
    const after = await onMachine('n1', 'sha256sum /etc/bulwark/bulwark.yaml');
    expect(after.stdout).toBe(before.stdout);
  });

  it('an unreachable node fails alone with exit 3; the others finish', async () => {
    const file = scratchConfig('unreachable', (cfg) => {
      (cfg.nodes as unknown[]).push({ name: 'n9', ssh: 'root@198.51.100.99', endpoint: '192.0.2.99' });
      (cfg.ssh as Record<string, unknown>).connectTimeout = 3;
    });
    const r = await bulwark(['bootstrap', '--all', '--json'], { config: file });
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout) as BootstrapJson;
    const byName = Object.fromEntries(j.nodes.map((n) => [n.node, n]));
    expect(byName.n9?.ok).toBe(false);
    expect(byName.n9?.error).toMatch(/n9 \(198\.51\.100\.99:22\)/);
    for (const n of ['n1', 'n2', 'n3']) expect(byName[n]?.ok, n).toBe(true);
  });

  it('an unsupported distribution is refused in preflight, by name and version', async () => {
    const file = scratchConfig('distro');
    await onMachine(
      'n3',
      'cp -P /etc/os-release /root/os-release.saved && rm /etc/os-release && printf \'NAME="Fedora Linux"\\nID=fedora\\nVERSION_ID=40\\nPRETTY_NAME="Fedora Linux 40 (Server Edition)"\\n\' > /etc/os-release',
    );
    try {
      const r = await bulwark(['bootstrap', 'n3', '--json'], { config: file });
      expect(r.code).toBe(3);
      const j = JSON.parse(r.stdout) as BootstrapJson;
      expect(j.nodes[0]?.error).toMatch(/unsupported distribution "Fedora Linux 40 \(Server Edition\)" \(fedora 40\)/);
      // Refused before anything was installed or changed.
      expect(j.nodes[0]?.steps.every((s) => !s.changed)).toBe(true);
    } finally {
      await onMachine('n3', 'rm -f /etc/os-release && cp -P /root/os-release.saved /etc/os-release');
    }
  });

  it("a capability the agent cannot bring to its plan fails that node's bootstrap (exit 3), by name", async () => {
    const file = scratchConfig('failing');
    const status = async () => (await onMachine('n3', 'systemctl show -p StatusText --value bulwark-agent')).stdout.trim();
    // without nft the firewall capability cannot read or load its table
    await onMachine('n3', 'mv /usr/sbin/nft /usr/sbin/nft.saved && systemctl restart bulwark-agent');
    try {
      await waitFor('the agent to report the firewall failing', async () => (await status()).includes('failing: firewall'), 60_000, 500);
      const r = await bulwark(['bootstrap', 'n3', '--json'], { config: file });
      expect(r.code, r.stderr).toBe(3);
      const j = JSON.parse(r.stdout) as BootstrapJson;
      expect(j.nodes[0]?.ok).toBe(false);
      expect(j.nodes[0]?.error).toMatch(/the agent reports firewall failing \(journalctl -u bulwark-agent on n3\)/);
    } finally {
      await onMachine('n3', 'mv /usr/sbin/nft.saved /usr/sbin/nft; systemctl restart bulwark-agent');
    }
    await waitFor('the firewall reconciled again', async () => !(await status()).includes('failing'), 60_000, 500);
    const again = await bulwark(['bootstrap', 'n3', '--json'], { config: file });
    expect(again.code, again.stderr).toBe(0);
  });
});
