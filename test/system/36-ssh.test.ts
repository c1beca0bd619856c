import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { bulwark, LAB_CONFIG, LAB_NODES, OPERATOR_SSH, onMachine, runCmd, sshAsOperator, waitFor } from '../helpers/lab.js';

// The lab's nodes run the hardened sshd (src/sshd) and the SSH ban (src/firewall/ssh-ban.ts). Everything here goes
// from the operator (this host, 198.51.100.1 on the management network): SSH is not open on the public side at all.

const scratch = mkdtempSync(join(tmpdir(), 'bw-sys-ssh-'));
const ctl = join(scratch, 'cm');
afterAll(async () => {
  await runCmd(['ssh', '-S', ctl, '-O', 'exit', `root@${LAB_NODES[2].mgmt}`], { timeoutMs: 10_000 });
  rmSync(scratch, { recursive: true, force: true });
});

const ssh = sshAsOperator;

interface Audit {
  nodes: { node: string; checks: { id: string; status: string; evidence: string; baseline?: string }[] }[];
}
const effective = (text: string) => new Map(text.split('\n').map((l) => [l.split(' ')[0] ?? '', l.slice(l.indexOf(' ') + 1)]));

describe('hardened sshd on every lab node', () => {
  it('the drop-in is in place (0600) and sshd -T shows the hardened values on every node', async () => {
    for (const n of LAB_NODES) {
      const r = await onMachine(n.name, 'stat -c %a /etc/ssh/sshd_config.d/00-bulwark.conf && sshd -T');
      expect(r.code, `${n.name}: ${r.stderr}`).toBe(0);
      const [mode, ...rest] = r.stdout.split('\n');
      expect(mode).toBe('600');
      const t = effective(rest.join('\n'));
      expect(
        Object.fromEntries(
          [
            'passwordauthentication',
            'kbdinteractiveauthentication',
            'pubkeyauthentication',
            'permitemptypasswords',
            'permitrootlogin',
            'authenticationmethods',
            'maxauthtries',
            'logingracetime',
            'maxstartups',
            'allowusers',
            'disableforwarding',
            'allowtcpforwarding',
            'allowagentforwarding',
            'x11forwarding',
            'permittunnel',
            'banner',
            'ciphers',
            'macs',
            'kexalgorithms',
          ].map((k) => [k, t.get(k)]),
        ),
      ).toEqual({
        passwordauthentication: 'no',
        kbdinteractiveauthentication: 'no',
        pubkeyauthentication: 'yes',
        permitemptypasswords: 'no',
        permitrootlogin: 'without-password',
        authenticationmethods: 'publickey',
        maxauthtries: '3',
        logingracetime: '30',
        maxstartups: '10:30:60',
        allowusers: 'root',
        disableforwarding: 'yes',
        allowtcpforwarding: 'no',
        allowagentforwarding: 'no',
        x11forwarding: 'no',
        permittunnel: 'no',
        banner: '/etc/issue.net',
        ciphers: 'chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com',
        macs: 'hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com',
        kexalgorithms: 'sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org',
      });
    }
  });

  it('a password attempt, a weak cipher and an old key exchange are refused; a key login works', async () => {
    const n1 = LAB_NODES[0].mgmt;
    expect((await ssh(n1)).code).toBe(0);
    const pw = await ssh(n1, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive');
    expect(pw.code).toBe(255);
    expect(pw.stderr).toMatch(/Permission denied \(publickey\)/);
    const cbc = await ssh(n1, '-o', 'Ciphers=aes128-cbc');
    expect(cbc.code).toBe(255);
    expect(cbc.stderr).toMatch(/no matching cipher found/);
    const kex = await ssh(n1, '-o', 'KexAlgorithms=diffie-hellman-group14-sha256');
    expect(kex.stderr).toMatch(/no matching key exchange method found/);
  });

  it('bulwark audit --all (over ssh2) passes every sshd check and the SSH-ban check, naming CIS rules', async () => {
    const r = await bulwark(['audit', '--all', '--json']);
    const j = JSON.parse(r.stdout) as Audit;
    expect(j.nodes.map((n) => n.node)).toEqual(['n1', 'n2', 'n3']);
    for (const n of j.nodes) {
      const sshd = n.checks.filter((c) => c.id.startsWith('sshd.'));
      expect(sshd.length, n.node).toBeGreaterThan(25);
      for (const c of sshd) expect(c.status, `${n.node} ${c.id}: ${c.evidence}`).toBe('pass');
      expect(n.checks.find((c) => c.id === 'sshd.MaxAuthTries')?.baseline).toBe('CIS Debian 12 L1: Ensure sshd MaxAuthTries is configured');
      expect(n.checks.find((c) => c.id === 'firewall.ssh-ban')).toMatchObject({ status: 'pass' });
    }
    const text = await bulwark(['audit', 'n1']);
    expect(text.stdout).toMatch(/sshd\.Ciphers.*\[CIS Debian 12 L1: Ensure sshd Ciphers are configured\]/);
  });

  it('a second bootstrap of n1 over ssh2 works against the hardened sshd', async () => {
    const r = await bulwark(['bootstrap', 'n1', '--json'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { ok: boolean }).ok).toBe(true);
  });
});

describe('SSH brute-force ban on a lab node', () => {
  // SSH is only open from the management network, which is exempt by default (Bulwark's own SSH comes from there),
  // so n3 gets a config with the exemption off; the operator itself is then the "attacker".
  it('with the exemption off, a burst of new connections bans the operator on n3; its open session carries on', async () => {
    const n3 = LAB_NODES[2].mgmt;
    const cfg = parse(readFileSync(LAB_CONFIG, 'utf8')) as { firewall: Record<string, unknown> };
    cfg.firewall.ssh = { bruteForce: { exemptManagement: false, rate: 6, per: 'minute', burst: 6, banSeconds: 120 } };
    const file = join(scratch, 'bulwark.yaml');
    writeFileSync(file, stringify(cfg));
    copyFileSync(join(LAB_CONFIG, '..', 'bulwark.known_hosts'), join(scratch, 'bulwark.known_hosts'));
    const bs = await bulwark(['bootstrap', 'n3', '--json'], { config: file, timeoutMs: 600_000 });
    expect(bs.code, bs.stderr).toBe(0);
    // one long-lived connection (OpenSSH ControlMaster) opened before the burst
    const master = await runCmd(['ssh', '-F', '/dev/null', ...OPERATOR_SSH, '-M', '-S', ctl, '-o', 'ControlPersist=yes', '-fN', `root@${n3}`], { timeoutMs: 30_000 });
    expect(master.code, master.stderr).toBe(0);
    const viaMaster = (cmd: string) => runCmd(['ssh', '-S', ctl, `root@${n3}`, cmd], { timeoutMs: 60_000 });
    expect((await viaMaster('nft list chain inet bulwark input')).stdout).toMatch(/tcp dport 22 ct state new add @ssh_meter4/);

    const results: string[] = [];
    for (let i = 0; i < 12; i++) results.push(await connectOnce(n3, 22, 1500));
    expect(results.slice(-3)).toEqual(['timeout', 'timeout', 'timeout']);
    expect(results.filter((x) => x === 'open').length).toBeLessThanOrEqual(7);
    const refused = await ssh(n3);
    expect(refused.code).toBe(255);

    // the established session still runs commands, and firewall status on the node lists the ban with time left
    const st = await viaMaster('bulwark firewall status --json');
    expect(st.code, st.stderr).toBe(0);
    const bans = (JSON.parse(st.stdout) as { nodes: { sshBans: { address: string; expiresIn: number }[] }[] }).nodes[0]!.sshBans;
    const mine = bans.find((b) => b.address === '198.51.100.1');
    expect(mine).toBeDefined();
    expect(mine!.expiresIn).toBeGreaterThan(60);
    expect(mine!.expiresIn).toBeLessThanOrEqual(120);

    // back to the lab's config through the open session: the exemption lets the operator in at once (ban entry or not)
    const restore = await runCmd(['ssh', '-S', ctl, `root@${n3}`, 'cat > /etc/bulwark/bulwark.yaml && systemctl reload bulwark-agent'], { stdin: readFileSync(LAB_CONFIG, 'utf8'), timeoutMs: 60_000 });
    expect(restore.code, restore.stderr).toBe(0);
    await waitFor('the operator let in again', async () => (await ssh(n3)).code === 0, 30_000, 1000);
    const again = await bulwark(['bootstrap', 'n3', '--json'], { timeoutMs: 600_000 });
    expect(again.code, again.stderr).toBe(0);
  });
});

function connectOnce(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('open');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(`error:${e.code}`);
    });
  });
}
