import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSecretFile } from '../../../src/mesh/keystore.js';
import { publicKeyOf } from '../../../src/mesh/keys.js';
import { run } from '../../../src/util/exec.js';
import { MeshLab } from './lab.js';

// Key rotation under load across a real wireguard-go mesh in namespaces: continuous 10 ms pings and a TCP
// stream keep going while n1 changes its WireGuard key; PSK rotation of all pairs loses nothing.
const lab = new MeshLab('bwt-mr', 'bwmr');
const scratch = mkdtempSync(join(tmpdir(), 'bwt-mr-'));
const STREAM = fileURLToPath(new URL('./tcp-stream.mjs', import.meta.url));
const children: { kill: (s?: NodeJS.Signals) => boolean }[] = [];

beforeAll(async () => {
  await lab.setup();
  for (const i of [1, 2, 3]) await lab.addNode(i);
  await lab.converge();
  await lab.node('n1').rotateAllPsks();
  expect(await lab.failingPairs()).toEqual([]);
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await lab.teardown();
  rmSync(scratch, { recursive: true, force: true });
});

/** `ping -i 0.01 -c COUNT` from one node to another's mesh address; resolves with sent/received. */
function pingRun(from: string, to: string, count: number): Promise<{ sent: number; received: number; lost: number }> {
  const addr = lab.node(from === to ? from : to).meshAddressOf(to) ?? '';
  const p = spawn('ip', ['netns', 'exec', lab.node(from).opts.netns ?? '', 'ping', '-n', '-q', '-i', '0.01', '-W', '2', '-c', String(count), addr]);
  children.push(p);
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve, reject) => {
    p.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      if (!m) return reject(new Error(`no ping summary: ${out}`));
      resolve({ sent: Number(m[1]), received: Number(m[2]), lost: Number(m[1]) - Number(m[2]) });
    });
  });
}

async function tcpStream(serverNode: string, clientNode: string, ms: number): Promise<Promise<{ ok: boolean; sent: number; recv: number; maxGapMs: number }>> {
  const addr = lab.node(serverNode).meshAddressOf(serverNode) ?? '';
  const srv = spawn('ip', ['netns', 'exec', lab.node(serverNode).opts.netns ?? '', process.execPath, STREAM, 'server', addr, '7001']);
  children.push(srv);
  await new Promise<void>((r) => srv.stdout.once('data', () => r()));
  const cli = spawn('ip', ['netns', 'exec', lab.node(clientNode).opts.netns ?? '', process.execPath, STREAM, 'client', addr, '7001', String(ms)]);
  children.push(cli);
  let out = '';
  cli.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => {
    cli.on('close', (code) => {
      srv.kill('SIGKILL');
      try {
        resolve({ ...(JSON.parse(out.trim().split('\n').pop() ?? '{}') as { sent: number; recv: number; maxGapMs: number }), ok: code === 0 });
      } catch {
        resolve({ ok: false, sent: 0, recv: 0, maxGapMs: -1 });
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('key rotation without loss', () => {
  let oldKeyFile = '';
  let oldPub = '';

  it('rotates n1 under 10 ms pings (both directions) and a TCP stream: at most 1 lost', async () => {
    const n1 = lab.node('n1');
    oldPub = n1.keys.wgPublicKey();
    oldKeyFile = join(scratch, 'old.key');
    writeSecretFile(oldKeyFile, readFileSync(n1.keys.wgKeyPath));
    const stream = await tcpStream('n3', 'n1', 2500);
    const toN1 = pingRun('n2', 'n1', 300);
    const fromN1 = pingRun('n1', 'n3', 300);
    await sleep(800);
    const res = await n1.rotateWireguardKey(10_000);
    const [a, b, s] = await Promise.all([toN1, fromN1, stream]);
    console.log(`WireGuard rotation of n1: n2->n1 lost ${a.lost}/${a.sent}, n1->n3 lost ${b.lost}/${b.sent}; confirm ${res.confirmMs} ms; TCP ${JSON.stringify(s)}`);
    expect(res.newPublicKey).not.toBe(oldPub);
    expect(n1.keys.wgPublicKey()).toBe(res.newPublicKey);
    expect(a.lost).toBeLessThanOrEqual(1);
    expect(b.lost).toBeLessThanOrEqual(1);
    expect(s.ok).toBe(true);
    expect(s.recv).toBe(s.sent);
    for (const other of ['n2', 'n3']) {
      const d = await lab.node(other).dev.dump();
      const keys = d?.peers.map((p) => p.publicKey) ?? [];
      expect(keys).toContain(res.newPublicKey);
      expect(keys).not.toContain(oldPub);
      expect(keys.length).toBe(2);
    }
    expect(await lab.failingPairs()).toEqual([]);
  });

  it('after rotation the old private key can no longer complete a handshake', async () => {
    const n1 = lab.node('n1');
    expect(publicKeyOf(readFileSync(oldKeyFile, 'utf8').trim())).toBe(oldPub);
    // Load the old key back into n1's interface (as an attacker holding it would) and try to reach n2.
    await run(['wg', 'set', n1.dev.iface, 'private-key', oldKeyFile], { netns: n1.opts.netns ?? '' });
    const addr = n1.meshAddressOf('n2') ?? '';
    const r = await run(['ping', '-c', '5', '-i', '0.3', '-W', '1', '-q', addr], { netns: n1.opts.netns ?? '' });
    expect(r.stdout).toMatch(/5 packets transmitted, 0 received/);
    const d2 = await lab.node('n2').dev.dump();
    expect(d2?.peers.map((p) => p.publicKey)).not.toContain(oldPub);
    // The reconciler notices the wrong key and puts the right one back.
    expect((await n1.converge()).join()).toMatch(/interface key/);
    expect(await lab.failingPairs()).toEqual([]);
  });

  it('rotates the PSK of every pair under 10 ms pings with 0 lost', async () => {
    const before = (await lab.node('n2').dev.dump())?.peers.map((p) => p.presharedKey);
    const ping = pingRun('n2', 'n1', 200);
    const ping2 = pingRun('n3', 'n2', 200);
    await sleep(500);
    expect(await lab.node('n3').rotateAllPsks()).toEqual(['n1-n2', 'n1-n3', 'n2-n3']);
    const [a, b] = await Promise.all([ping, ping2]);
    console.log(`PSK rotation of all pairs: n2->n1 lost ${a.lost}/${a.sent}, n3->n2 lost ${b.lost}/${b.sent}`);
    expect(a.lost).toBe(0);
    expect(b.lost).toBe(0);
    const after = (await lab.node('n2').dev.dump())?.peers.map((p) => p.presharedKey);
    expect(after?.every((p, i) => p !== null && p !== before?.[i])).toBe(true);
  });

  it('a peer unreachable during rotation: clear error, rolled back, old key kept, mesh intact', async () => {
    const n1 = lab.node('n1');
    const pub = n1.keys.wgPublicKey();
    lab.transport.unreachable.add('n3');
    try {
      await expect(n1.rotateWireguardKey(3000)).rejects.toThrow(/peer unreachable during rotation: n3 .*mesh intact/);
    } finally {
      lab.transport.unreachable.delete('n3');
    }
    expect(n1.keys.wgPublicKey()).toBe(pub);
    expect(n1.keys.nextWgPublicKey()).toBeNull();
    const d2 = await lab.node('n2').dev.dump();
    expect(d2?.peers.length).toBe(2);
    expect(await lab.failingPairs()).toEqual([]);
  });

  it('rotates twice more in a row, mesh intact each time', async () => {
    for (let i = 0; i < 2; i++) {
      await lab.node(i === 0 ? 'n2' : 'n3').rotateWireguardKey(10_000);
      expect(await lab.failingPairs()).toEqual([]);
    }
  });
});
