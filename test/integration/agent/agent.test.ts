import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAgent } from '../../../src/agent/control.js';
import { STARTER } from '../../../src/config/starter.js';
import { waitFor } from '../../helpers/lab.js';

// The agent as a real process talking sd_notify to a real datagram socket (held by Python, since Node has
// no AF_UNIX datagrams), the way systemd would receive it.
const dir = mkdtempSync(join(tmpdir(), 'bw-agent-'));
const procs: ChildProcess[] = [];
const NS = 'bwt-agent';
beforeAll(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  spawnSync('ip', ['netns', 'add', NS]);
});
afterAll(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function notifyListener(path: string): { messages: string[]; proc: ChildProcess } {
  const messages: string[] = [];
  const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nwhile True:\n  d=s.recv(4096)\n  print(d.decode().replace('\\n','|'),flush=True)\n`;
  const proc = spawn('python3', ['-c', py, path]);
  procs.push(proc);
  proc.stdout.on('data', (b: Buffer) => messages.push(...b.toString().split('\n').filter(Boolean)));
  return { messages, proc };
}

describe('bulwark agent process', () => {
  it('notifies READY and STATUS, pings the watchdog, serves a 0600 control socket, reloads on SIGHUP', async () => {
    const notify = join(dir, 'notify.sock');
    const n = notifyListener(notify);
    await waitFor('listener', async () => n.messages.includes('bound'), 5000);
    writeFileSync(join(dir, 'bulwark.yaml'), STARTER);
    writeFileSync(join(dir, 'node.json'), '{"name":"n2"}');
    const sock = join(dir, 'agent.sock');
    // The agent reads its paths from the same places a node uses unless told otherwise (test hooks via env).
    // In a namespace of its own, so nothing it might do can reach this host's network.
    const agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS,
        'node',
        '-e',
        `
      import('${join(process.cwd(), 'dist/src/agent/agent.js')}').then(async ({ Agent }) => {
        const { createLogger } = await import('${join(process.cwd(), 'dist/src/log/logger.js')}');
        const a = new Agent({ log: createLogger({ pretty: false }), configPath: '${dir}/bulwark.yaml', identityPath: '${dir}/node.json', socketPath: '${sock}', intervalMs: 500, reconcilers: [{ name: 'probe', reconcile: async () => ({ name: 'probe', changed: false, drift: [], notes: [] }) }] });
        process.on('SIGHUP', () => void a.reload());
        await a.start();
      });`,
      ],
      { env: { ...process.env, NOTIFY_SOCKET: notify, WATCHDOG_USEC: '3000000' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(agent);
    await waitFor('READY=1', async () => n.messages.some((m) => m.includes('READY=1')), 15_000);
    expect(n.messages.find((m) => m.includes('READY=1'))).toMatch(/STATUS=1 capability reconciled, no drift/);
    await waitFor('WATCHDOG=1', async () => n.messages.some((m) => m.includes('WATCHDOG=1')), 5_000);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    const st = (await askAgent(sock, { op: 'status' })) as { node: string; pid: number; lastReconcile: { at: string } };
    expect(st.node).toBe('n2');
    expect(st.pid).toBe(agent.pid);
    // A bad config on reload is rejected, the last good one kept, and the status says so.
    writeFileSync(join(dir, 'bulwark.yaml'), STARTER + 'bogus: 1\n');
    agent.kill('SIGHUP');
    const bad = await waitFor(
      'config error in status',
      async () => {
        const s = (await askAgent(sock, { op: 'status' })) as { summary: string };
        return s.summary.startsWith('config error') ? s.summary : undefined;
      },
      10_000,
    );
    expect(bad.value).toMatch(/bulwark\.yaml:\d+:1: bogus: unknown key "bogus"/);
    // The synchronous reload (what ExecReload runs) answers only after the pass, with the fixed config.
    writeFileSync(join(dir, 'bulwark.yaml'), STARTER);
    const reloaded = (await askAgent(sock, { op: 'reload' })) as { summary: string };
    expect(reloaded.summary).toBe('1 capability reconciled, no drift');
    // A malformed request gets an error reply and the agent keeps serving.
    const r = (await askAgent(sock, { op: 'nonsense' } as never)) as { error: string };
    expect(r.error).toMatch(/bad request/);
    expect(((await askAgent(sock, { op: 'status' })) as { node: string }).node).toBe('n2');
  });
});

describe('agent reconcile pass', () => {
  it('a capability stuck past its budget does not hold up the others, and is skipped until it finishes', async () => {
    const { Agent } = await import('../../../src/agent/agent.js');
    const { createLogger } = await import('../../../src/log/logger.js');
    const d = mkdtempSync(join(tmpdir(), 'bw-agent2-'));
    writeFileSync(join(d, 'bulwark.yaml'), STARTER);
    writeFileSync(join(d, 'node.json'), '{"name":"n1"}');
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    let fastRuns = 0;
    let slowRuns = 0;
    const a = new Agent({
      log: createLogger({ pretty: false, level: 'silent' }),
      configPath: join(d, 'bulwark.yaml'),
      identityPath: join(d, 'node.json'),
      socketPath: join(d, 'agent.sock'),
      intervalMs: 60_000,
      budgetMs: 200,
      reconcilers: [
        { name: 'slow', reconcile: async () => (slowRuns++, await stuck, { name: 'slow', changed: false, drift: [], notes: [] }) },
        { name: 'fast', reconcile: async () => (fastRuns++, { name: 'fast', changed: false, drift: [], notes: [] }) },
      ],
    });
    try {
      await a.start();
      expect(fastRuns).toBe(1);
      const second = await a.reconcile();
      expect(fastRuns).toBe(2);
      expect(slowRuns).toBe(1); // not started again while busy
      expect(second.find((r) => r.name === 'slow')?.error).toBe('still busy with an earlier pass');
      release();
      await new Promise((r) => setTimeout(r, 50));
      await a.reconcile();
      expect(slowRuns).toBe(2);
    } finally {
      release();
      await a.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
