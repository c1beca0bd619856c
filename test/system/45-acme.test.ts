import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certFacts } from '../../src/certs/x509.js';
import { bulwark, LAB_CONFIG, LAB_NODES, LAB_STATE, OUTSIDE_NS, onMachine, runCmd, waitFor } from '../helpers/lab.js';

// ACME on the lab: the lab's CA (pebble on the outside network, DNS for the lab names) issues every node a
// certificate for its own name and the shared one (whose HTTP-01 answer travels over the mesh); clients
// verify against the CA root only; a renewal is taken live under an open wss session; testssl.sh finds
// nothing HIGH or CRITICAL with the ACME chain. The lab config gets the acme: section here (the files
// before this one pin the nodes' self-signed certificates).
const dir = mkdtempSync(join(tmpdir(), 'bw-acme-'));
const name = (n: string) => `${n}.lab.bulwark.test`;
const SHARED = 'wamp.lab.bulwark.test';
const base = readFileSync(LAB_CONFIG, 'utf8');
let root = '';
const sessions: ChildProcess[] = [];

/** What the node at `addr` presents for `host` on 443, checked against the CA root only. */
async function served(addr: string, host: string): Promise<{ ok: boolean; serial: string; out: string }> {
  const r = await runCmd(
    ['ip', 'netns', 'exec', OUTSIDE_NS, 'openssl', 's_client', '-connect', `${addr}:443`, '-servername', host, '-verify_hostname', host, '-CAfile', root, '-verify_return_error'],
    { timeoutMs: 20_000, stdin: '' },
  );
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  return { ok: r.code === 0 && r.stdout.includes('Verify return code: 0 (ok)'), serial: pem ? certFacts(pem).serial : '', out: `${r.stdout.slice(-600)}${r.stderr}` };
}

/** A wss session from outside to n1 (autobahn-js), verified for n1's name against the root. */
function openSession(): Promise<{ child: ChildProcess; serial: string; call(proc: string): Promise<{ call: string; error?: string; result?: unknown }> }> {
  const child = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/acme-session.mjs'), 'wss://192.0.2.11/', root, name('n1'), 'app'], { stdio: ['pipe', 'pipe', 'pipe'] });
  sessions.push(child);
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((l: Record<string, unknown>) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as Record<string, unknown>));
  const next = () =>
    new Promise<Record<string, unknown>>((res, rej) => {
      waiting.push(res);
      setTimeout(() => rej(new Error('no answer from the wss client in 20 s')), 20_000).unref();
    });
  return next().then((first) => {
    if (first.open !== true) throw new Error(`session did not open: ${JSON.stringify(first)}`);
    return {
      child,
      serial: String(first.serial),
      call: (proc: string) => {
        child.stdin!.write(`${proc}\n`);
        // the answer without the client's bookkeeping fields (procedure, at)
        return next().then(({ call, error, result }) => ({ call: String(call), ...(error !== undefined ? { error: String(error) } : {}), ...(result !== undefined ? { result } : {}) }));
      },
    };
  });
}

async function applyConfig(text: string, nodes: string[]): Promise<void> {
  writeFileSync(LAB_CONFIG, text);
  const r = await bulwark(['bootstrap', ...nodes, '--json'], { timeoutMs: 10 * 60_000 });
  expect(r.code, r.stdout.slice(-2000) + r.stderr.slice(-2000)).toBe(0);
}

beforeAll(async () => {
  const st = JSON.parse((await bulwark(['lab', 'status', '--json'], { config: '' })).stdout) as { acme?: { root: string } };
  expect(st.acme?.root).toBe(`${LAB_STATE}/acme/root.pem`);
  root = st.acme?.root ?? '';
  process.stderr.write('[system] acme: the lab config gets the acme: section; bootstrap --all uploads it\n');
  await applyConfig(base + readFileSync(`${LAB_STATE}/acme/acme.yaml`, 'utf8'), ['--all']);
}, 15 * 60_000);

afterAll(() => {
  for (const c of sessions) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('ACME certificates on the lab', () => {
  it(
    "every node's 443 verifies against the CA root for its own and the shared name",
    async () => {
      for (const n of LAB_NODES) {
        for (const host of [name(n.name), SHARED]) {
          const { value, ms } = await waitFor(`${n.name} serving ${host}`, async () => ((await served(n.pub, host)).ok ? served(n.pub, host) : undefined), 300_000, 2000);
          process.stderr.write(`[system] ${n.name} verifies as ${host} after ${ms} ms (serial ${value.serial})\n`);
        }
      }
      const last = await served(LAB_NODES[2].pub, SHARED);
      expect(last.ok, last.out).toBe(true);
    },
    15 * 60_000,
  );

  it(
    'status and audit show the issued certificates',
    async () => {
      // status shows what the last reconcile pass saw (every 20 s): the pass after the issuance has it
      const line = (n: string) =>
        new RegExp(`\n  certificate ${name(n).replace(/\./g, '\\.')},wamp\\.lab\\.bulwark\\.test issuer "Pebble Intermediate CA [0-9a-f]+", 89 days left, serial [0-9a-f]+\n`);
      await waitFor(
        'status listing every ACME certificate',
        async () => {
          const st = await bulwark(['status', '--all']);
          return LAB_NODES.every((n) => line(n.name).test(st.stdout)) ? st : undefined;
        },
        90_000,
        3000,
      );
      const a = JSON.parse((await bulwark(['audit', '--all', '--json'], { timeoutMs: 180_000 })).stdout) as { nodes: { node: string; checks: { id: string; status: string; evidence: string }[] }[] };
      for (const n of a.nodes) {
        const certs = n.checks.filter((c) => c.id.startsWith('certs.'));
        expect(
          certs.map((c) => `${c.id} ${c.status}`),
          n.node,
        ).toEqual(['certs.https.expiry pass', 'certs.https.issuer pass', 'certs.https.names pass']);
      }
    },
    5 * 60_000,
  );

  it(
    'a forced renewal while a wss session is open: the session survives, the next connection sees the new serial',
    async () => {
      const old = await openSession();
      const before = (await served('192.0.2.11', name('n1'))).serial;
      expect(old.serial).toBe(before);
      // renewBefore longer than the lifetime: n1's agent renews at once
      await applyConfig(base + readFileSync(`${LAB_STATE}/acme/acme.yaml`, 'utf8') + '  renewBefore: 3650d\n', ['n1']);
      await waitFor('a renewed certificate on n1', async () => (await served('192.0.2.11', name('n1'))).serial !== before, 180_000, 1000);
      await applyConfig(base + readFileSync(`${LAB_STATE}/acme/acme.yaml`, 'utf8'), ['n1']);
      const log = await onMachine('n1', 'journalctl -u bulwark-router --no-pager -o cat | grep -c "TLS certificate reloaded"');
      expect(Number(log.stdout.trim())).toBeGreaterThan(0);
      // the old session still gets answers over its connection (the router answers a call to nothing registered)
      expect(await old.call('com.example.acme.nobody')).toEqual({ call: 'error', error: 'wamp.error.no_such_procedure' });
      const now = (await served('192.0.2.11', name('n1'))).serial;
      const fresh = await openSession();
      expect(fresh.serial).toBe(now);
      expect(fresh.serial).not.toBe(before);
      expect(await fresh.call('com.example.acme.nobody')).toEqual({ call: 'error', error: 'wamp.error.no_such_procedure' });
    },
    15 * 60_000,
  );

  it(
    'testssl.sh on 443 with the ACME chain: nothing HIGH or CRITICAL',
    async () => {
      const json = join(dir, 'testssl.json');
      await runCmd(
        [
          'ip',
          'netns',
          'exec',
          OUTSIDE_NS,
          'testssl',
          '--quiet',
          '--warnings',
          'off',
          '--color',
          '0',
          '--ip',
          '192.0.2.11',
          '--add-ca',
          root,
          '--jsonfile',
          json,
          '-p',
          '-s',
          '-f',
          '-h',
          '-S',
          `https://${name('n1')}/`,
        ],
        { timeoutMs: 600_000, env: { ...process.env, TERM: 'dumb' } },
      );
      const findings = JSON.parse(readFileSync(json, 'utf8')) as { id: string; severity: string; finding: string }[];
      const bad = findings.filter((x) => x.severity === 'HIGH' || x.severity === 'CRITICAL');
      expect(bad, JSON.stringify(bad)).toEqual([]);
      // the chain is trusted through the CA root (not self-signed), HSTS stays on
      const trust = findings.find((x) => x.id.startsWith('cert_chain_of_trust'));
      expect(trust?.severity, JSON.stringify(trust)).toBe('OK');
      expect((findings.find((x) => x.id === 'HSTS_time') ?? findings.find((x) => x.id === 'HSTS'))?.severity).toBe('OK');
    },
    12 * 60_000,
  );

  it('the agents that issued and renewed these certificates stay under 80 MB (VmRSS; each ACME order ran in a child process)', async () => {
    for (const n of LAB_NODES) {
      const r = await onMachine(
        n.name,
        "P=$(systemctl show -p MainPID --value bulwark-agent); awk '/^VmRSS:/{print $2}' /proc/$P/status; journalctl -u bulwark-agent --no-pager -o cat | grep -c 'certificate installed' || true",
      );
      const [kib = '0', issued = '0'] = r.stdout.trim().split('\n');
      const mb = Number(kib) / 1024;
      process.stderr.write(`[system] acme: ${n.name} agent VmRSS ${mb.toFixed(1)} MB after ${issued} certificate(s) (goal < 80 MB)\n`);
      expect(mb, n.name).toBeGreaterThan(10);
      expect(mb, n.name).toBeLessThan(80);
    }
  });
});
