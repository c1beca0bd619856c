import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildRuntime } from '../../tools/runtime-build.js';
import { buildAppImageArchive, echoAppSpec } from '../helpers/image-app.js';
import { callFromOutside, ISOLATED, ISOLATION_PROBE } from '../helpers/apps.js';
import { bulwark, onMachine, sshAsOperator, waitFor } from '../helpers/lab.js';
import { agentDriftThisBoot, BACK_WITHIN_MS, bootFirewallLog, everythingBack, expectFailClosed, killWatchers, labBoots, watchPorts } from '../helpers/reboot.js';
import { aptReaches, expectSecurityUpdateInstalled } from '../helpers/updates.js';

// Debian 13 nodes. Runs after the tests of the shared Debian 12 lab (test/system/sequencer.ts sorts by
// name) and replaces it with two Debian 13 machines on the same addresses; zz-lab-down takes them down.
// A Debian 13 lab machine comes with Bulwark's distro packages installed (an offline bundle is built on
// the node's own release, and this host is Debian 12), so bootstrap has none to install; everything else
// is the real thing: trixie's systemd, nftables 1.1, wireguard-go, podman.

interface BootstrapJson {
  ok: boolean;
  nodes: { node: string; ok: boolean; unchanged: boolean; steps: { step: string; changed: boolean; detail: string }[] }[];
}
interface AuditJson {
  nodes: { node: string; checks: { id: string; status: string; evidence: string }[] }[];
}

const scratch = mkdtempSync(join(tmpdir(), 'bw-d13-'));
const config = join(scratch, 'bulwark.yaml');
afterAll(() => {
  killWatchers();
  rmSync(scratch, { recursive: true, force: true });
});

describe('two Debian 13 machines', () => {
  it(
    'lab up --debian 13 boots them (the trixie rootfs is built once and cached)',
    async () => {
      process.stderr.write('[system] lab up --debian 13 --nodes 2 (first run: debootstrap of trixie, a minute or two)\n');
      const up = await bulwark(['lab', 'up', '--nodes', '2', '--debian', '13', '--no-acme', '--config-out', config], { config: '', timeoutMs: 20 * 60_000 });
      expect(up.code, up.stderr).toBe(0);
      const release = await onMachine('n1', '. /etc/os-release && echo "$ID $VERSION_ID" && nft --version');
      expect(release.stdout).toMatch(/^debian 13\n/);
      expect(release.stdout).toMatch(/nftables v1\.1\./);
      // an allowed egress destination, so the egress sets hold inet_proto elements (listed by number on nftables 1.1)
      const cfg = parse(readFileSync(config, 'utf8')) as { firewall: Record<string, unknown> };
      cfg.firewall.egress = {
        allow: [
          { name: 'db', to: ['203.0.113.10'], ports: [5432] },
          { name: 'ntp', to: ['203.0.113.0/28'], proto: 'udp', ports: [123] },
        ],
      };
      writeFileSync(config, stringify(cfg));
    },
    25 * 60_000,
  );

  it(
    'bootstrap --all provisions them: Debian 13 passes preflight, agent and mesh come up',
    async () => {
      const r = await bulwark(['bootstrap', '--all', '--json'], { config, timeoutMs: 10 * 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as BootstrapJson;
      expect(j.ok).toBe(true);
      for (const n of j.nodes) {
        expect(n.steps.find((s) => s.step === 'preflight')?.detail).toContain('Debian GNU/Linux 13 (trixie)');
        expect(n.steps.find((s) => s.step === 'packages')?.changed).toBe(false);
        expect(n.steps.find((s) => s.step === 'agent')?.changed).toBe(true);
      }
      for (const node of ['n1', 'n2']) {
        const s = await onMachine(node, 'systemctl is-active bulwark-agent bulwark-router.service');
        expect(s.stdout.trim().split('\n'), `${node}: ${s.stdout}`).toEqual(['active', 'active']);
      }
      const mesh = await waitFor(
        'the mesh between n1 and n2',
        async () => {
          const m = await bulwark(['mesh', 'status', '--json'], { config });
          const st = JSON.parse(m.stdout || '{"nodes":[]}') as { nodes: { peers: { reachable: boolean }[] }[] };
          return st.nodes.length === 2 && st.nodes.every((n) => n.peers.length === 1 && n.peers[0]!.reachable) ? st : undefined;
        },
        60_000,
        1000,
      );
      expect(mesh.value.nodes).toHaveLength(2);
    },
    15 * 60_000,
  );

  it(
    "rotating every node's WireGuard key and the pre-shared keys keeps the Debian 13 mesh reachable",
    async () => {
      const before = (await onMachine('n1', 'wg show bw0 public-key')).stdout.trim();
      const rot = await bulwark(['keys', 'rotate', '--wireguard', '--all'], { config, timeoutMs: 180_000 });
      expect(rot.code, rot.stdout + rot.stderr).toBe(0);
      const psk = await bulwark(['keys', 'rotate', '--psk'], { config, timeoutMs: 180_000 });
      expect(psk.code, psk.stdout + psk.stderr).toBe(0);
      expect((await onMachine('n1', 'wg show bw0 public-key')).stdout.trim()).not.toBe(before);
      await waitFor(
        'the mesh after the rotations',
        async () => {
          const m = JSON.parse((await bulwark(['mesh', 'status', '--json'], { config })).stdout || '{"nodes":[]}') as { nodes: { peers: { reachable: boolean }[] }[] };
          return m.nodes.length === 2 && m.nodes.every((n) => n.peers.every((p) => p.reachable));
        },
        60_000,
        1000,
      );
    },
    5 * 60_000,
  );

  it('the live firewall equals the plan on nftables 1.1, and the agent finds no drift on its next passes', async () => {
    const st = await bulwark(['firewall', 'status', '--all'], { config });
    expect(st.code, st.stdout + st.stderr).toBe(0);
    expect(st.stdout.match(/matches plan: yes/g)).toHaveLength(2);
    // the agent reconciles every 20 s: a plan/listing mismatch would replace the table on every pass
    const since = (await onMachine('n1', 'date +%s')).stdout.trim();
    await new Promise((r) => setTimeout(r, 25_000));
    const log = await onMachine('n1', `journalctl -u bulwark-agent --since @${since} -o cat --no-pager`);
    // what the agent repaired in the window, named in the failure (any capability, not only the firewall)
    const repaired = log.stdout.split('\n').filter((l) => l.includes('drift found and repaired'));
    expect(log.stdout, repaired.join('\n')).not.toContain('firewall: repaired drift');
    const status = await onMachine('n1', 'systemctl show -p StatusText --value bulwark-agent');
    expect(status.stdout, repaired.join('\n')).toContain('no drift');
  }, 120_000);

  it(
    'audit passes every check on both, and a second bootstrap changes nothing',
    async () => {
      let a = await bulwark(['audit', '--all', '--json'], { config, timeoutMs: 180_000 });
      const failing = (r: typeof a) => {
        try {
          return (JSON.parse(r.stdout) as AuditJson).nodes.flatMap((n) => n.checks.filter((c) => c.status === 'fail').map((c) => `${n.node} ${c.id}: ${c.evidence}`));
        } catch {
          return [`exit ${r.code}: ${r.stderr.slice(0, 500)}`];
        }
      };
      if (a.code !== 0) {
        // Audit is a reading of live state (handshakes, units, listeners): one reading taken while something is
        // still settling after the rotations is named in the log, and the reading after the agent's next pass counts.
        process.stderr.write(`[system] debian 13 audit, first reading: ${JSON.stringify(failing(a))}; reading again after the agent's next pass\n`);
        await new Promise((r) => setTimeout(r, 25_000));
        a = await bulwark(['audit', '--all', '--json'], { config, timeoutMs: 180_000 });
      }
      const audit = JSON.parse(a.stdout) as AuditJson;
      expect(audit.nodes).toHaveLength(2);
      for (const n of audit.nodes) {
        const failed = n.checks.filter((c) => c.status === 'fail');
        expect(failed, `${n.node}: ${JSON.stringify(failed)}`).toEqual([]);
        expect(n.checks.filter((c) => c.status === 'pass').length).toBeGreaterThan(30);
      }
      expect(a.code, a.stderr).toBe(0);
      const again = JSON.parse((await bulwark(['bootstrap', '--all', '--json'], { config, timeoutMs: 5 * 60_000 })).stdout) as BootstrapJson;
      expect(again.ok).toBe(true);
      expect(again.nodes.every((n) => n.unchanged)).toBe(true);
    },
    10 * 60_000,
  );

  it(
    "an app in Debian 13's podman: an outside client calls it over wss; inside, no network, read-only root, no capabilities",
    async () => {
      const { archive } = await buildAppImageArchive(echoAppSpec(resolve('test/fixtures/echo-app')));
      const add = await bulwark(['app', 'add', 'echo', '--image-archive', archive, '--realm', 'app', '--role', 'backend', '--node', 'n1'], { config, timeoutMs: 300_000 });
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const ca = join(scratch, 'n1-cert.pem');
      writeFileSync(ca, (await onMachine('n1', 'cat /var/lib/bulwark/router/tls/cert.pem')).stdout);
      const r = await callFromOutside('wss://192.0.2.11/', ca, 'com.example.echo', ['hello, trixie'], 30_000);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, result: 'hello, trixie' });
      const probe = await onMachine('n1', 'podman exec -i bulwark-app-echo python3 -', 60_000, ISOLATION_PROBE + '\n');
      expect(probe.stdout.trim().split('\n'), probe.stderr).toEqual(ISOLATED);
    },
    10 * 60_000,
  );

  it("Debian 13's OpenSSH under the drop-in: a key login works; a password attempt, a CBC cipher and an old key exchange are refused", async () => {
    expect((await sshAsOperator('198.51.100.11')).code).toBe(0);
    const pw = await sshAsOperator('198.51.100.11', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive');
    expect(pw.code).toBe(255);
    expect(pw.stderr).toMatch(/Permission denied \(publickey\)/);
    const cbc = await sshAsOperator('198.51.100.11', '-o', 'Ciphers=aes128-cbc');
    expect(cbc.stderr).toMatch(/no matching cipher found/);
    const kex = await sshAsOperator('198.51.100.11', '-o', 'KexAlgorithms=diffie-hellman-group14-sha256');
    expect(kex.stderr).toMatch(/no matching key exchange method found/);
    const t = await onMachine('n1', 'sshd -T | grep -E "^(passwordauthentication|maxauthtries|permitrootlogin|disableforwarding) "');
    expect(t.stdout.trim().split('\n').sort()).toEqual(['disableforwarding yes', 'maxauthtries 3', 'passwordauthentication no', 'permitrootlogin without-password']);
  });

  it(
    'bulwark lab reboot n1: agent, wireguard-go, mesh, router and app back within 90 s; nothing but 80/443 ever answers the outside',
    async () => {
      const ca = join(scratch, 'n1-cert.pem');
      const callApp = async () => (await callFromOutside('wss://192.0.2.11/', ca, 'com.example.echo', ['after reboot'])).ok;
      const before = await labBoots('n1');
      const watch = await watchPorts('192.0.2.11');
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      const r = await bulwark(['lab', 'reboot', 'n1'], { config: '', timeoutMs: BACK_WITHIN_MS });
      expect(r.code, r.stderr).toBe(0);
      const t1 = Date.now();
      expect(await labBoots('n1')).toBe(before + 1);
      const at = await everythingBack({ node: 'n1', config, peers: 1, app: 'echo', callApp }, t0);
      const attempts = await watch.stop();
      process.stderr.write(`[system] debian 13 reboot: back after ${JSON.stringify(at)} s; ${attempts.length} outside connection attempts\n`);
      expectFailClosed(attempts, t0, t1);
      expect(await bootFirewallLog('n1')).toContain('loaded the last applied table inet bulwark');
      expect(await agentDriftThisBoot('n1')).not.toContain('table inet bulwark missing');
    },
    5 * 60_000,
  );

  it(
    "a security update in the lab mirror's trixie-security is installed by the node itself; needrestart restarts what it replaced",
    async () => {
      const a = JSON.parse((await bulwark(['audit', 'n2', '--json'], { config })).stdout) as AuditJson;
      const source = a.nodes[0]?.checks.find((c) => c.id === 'updates.security-source');
      expect(source).toMatchObject({ status: 'pass' });
      expect(source?.evidence).toContain('trixie-security from http://192.0.2.1/debian-security');
      expect(await aptReaches('n2', true)).toBe('open');
      expect(await aptReaches('n2', false)).toBe('closed');
      await expectSecurityUpdateInstalled('n2', 'trixie', scratch);
    },
    10 * 60_000,
  );

  it(
    'bulwark upgrade moves both Debian 13 nodes to a new build one at a time; each is healthy on it, its integrity manifest recorded again',
    async () => {
      const version = '0.1.1-trixie';
      const tarball = join(scratch, `bulwark-runtime-${version}.tar.gz`);
      process.stderr.write(`[system] debian 13: building runtime ${version} for bulwark upgrade\n`);
      await buildRuntime(resolve('.'), { version, tarball, stage: join(scratch, 'stage') });
      const r = await bulwark(['upgrade', '--all', '--runtime', tarball, '--json', '--timeout', '300'], { config, timeoutMs: 15 * 60_000 });
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      const ev = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { event: string; node?: string });
      const idx = (event: string, node: string) => ev.findIndex((e) => e.event === event && e.node === node);
      expect(idx('healthy', 'n1')).toBeGreaterThan(idx('switched', 'n1'));
      expect(idx('node-start', 'n2'), 'n2 started before n1 was healthy').toBeGreaterThan(idx('healthy', 'n1'));
      expect(idx('healthy', 'n2')).toBeGreaterThan(idx('switched', 'n2'));
      for (const node of ['n1', 'n2']) {
        const f = await onMachine(node, '/usr/local/sbin/bulwark --version; systemctl is-active bulwark-agent bulwark-router; /usr/local/sbin/bulwark integrity check >/dev/null; echo rc=$?');
        expect(f.stdout.trim().split('\n'), `${node}: ${f.stdout}${f.stderr}`).toEqual([version, 'active', 'active', 'rc=0']);
      }
    },
    20 * 60_000,
  );
});
