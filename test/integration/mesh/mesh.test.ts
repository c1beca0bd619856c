import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysEqual, generatePrivateKey, publicKeyOf } from '../../../src/mesh/keys.js';
import { meshChecks } from '../../../src/mesh/audit.js';
import { nodeStatus, renderStatus } from '../../../src/mesh/status.js';
import { HttpTransport, serveAgentMessages } from '../../../src/mesh/transport.js';
import { run } from '../../../src/util/exec.js';
import { MeshLab } from './lab.js';

// Three namespaces form the mesh with real wireguard-go; a fourth joins; one leaves; wireguard-go is
// killed and comes back. Every step is checked with real pings across the mesh.
const lab = new MeshLab('bwt-mm', 'bwmm');

beforeAll(async () => {
  await lab.setup();
  for (const i of [1, 2, 3]) await lab.addNode(i);
  await lab.converge();
});
afterAll(async () => {
  await lab.teardown();
});

describe('WireGuard mesh in namespaces (wireguard-go)', () => {
  it('falls back to wireguard-go (no kernel module) and every pair of three nodes pings over the mesh', async () => {
    for (const n of lab.nodes.values()) expect(n.backend).toBe('wireguard-go');
    expect(await lab.failingPairs()).toEqual([]);
    const d = await lab.node('n1').dev.dump();
    expect(d?.peers.length).toBe(2);
    expect(d?.iface.listenPort).toBe(51820);
    const link = await lab.node('n1').dev.linkState();
    expect(link).toMatchObject({ up: true, mtu: 1420 });
    expect(link?.addresses[0]).toMatch(/^10\.77\.0\.\d+\/24$/);
  });

  it('keeps keys 0600 in a 0700 directory and the private key out of argv', () => {
    const n = lab.node('n1');
    for (const f of n.keys.secretFiles()) expect(f.mode, f.path).toBe(0o600);
    expect(statSync(n.keys.root).mode & 0o777).toBe(0o700);
  });

  it('gives every pair the same ML-KEM-derived PSK on both sides, without breaking sessions', async () => {
    const rotated = await lab.node('n1').rotateAllPsks();
    expect(rotated).toEqual(['n1-n2', 'n1-n3', 'n2-n3']);
    const d1 = await lab.node('n1').dev.dump();
    const d2 = await lab.node('n2').dev.dump();
    const onN1 = d1?.peers.find((p) => p.publicKey === lab.node('n2').keys.wgPublicKey())?.presharedKey;
    const onN2 = d2?.peers.find((p) => p.publicKey === lab.node('n1').keys.wgPublicKey())?.presharedKey;
    expect(onN1).toBeTruthy();
    expect(keysEqual(onN1, onN2)).toBe(true);
    expect(await lab.failingPairs()).toEqual([]);
  });

  it('a converged node plans no change (unchanged peers keep their sessions)', async () => {
    expect(await lab.node('n2').converge()).toEqual([]);
  });

  it('mesh status shows every peer with a handshake and reachable; the audit passes, then flags a foreign peer', async () => {
    const st = await nodeStatus(lab.node('n1'));
    expect(st.up).toBe(true);
    expect(st.peers.map((p) => [p.name, p.reachable, p.present])).toEqual([
      ['n2', true, true],
      ['n3', true, true],
    ]);
    expect(st.peers.every((p) => p.handshakeAgeSec !== null && p.handshakeAgeSec < 60 && BigInt(p.rxBytes) > 0n)).toBe(true);
    expect(renderStatus([st])).toMatch(/1 nodes, 2\/2 peer links reachable\n$/);
    const checks = await meshChecks(lab.node('n1'), ['n1', 'n2', 'n3']);
    expect(checks.map((c) => `${c.id}:${c.status}`)).toEqual(['mesh.key-file-modes:pass', 'mesh.interface-up:pass', 'mesh.peers-present:pass', 'mesh.no-foreign-peers:pass']);
    const stranger = publicKeyOf(generatePrivateKey());
    const dev = lab.node('n1').dev;
    await run(['wg', 'set', dev.iface, 'peer', stranger, 'allowed-ips', '10.77.0.250/32'], { netns: lab.ns(1) });
    // a one-node cluster needs no interface (the agent makes one once there is a peer): not a failure
    const alone = await meshChecks(lab.node('n1'), ['n1']);
    expect(alone.find((c) => c.id === 'mesh.interface-up')).toMatchObject({ status: 'n/a', evidence: expect.stringContaining('one-node cluster') });
    const bad = await meshChecks(lab.node('n1'), ['n1', 'n2', 'n3', 'n9']);
    expect(bad.find((c) => c.id === 'mesh.no-foreign-peers')).toMatchObject({ status: 'fail' });
    expect(bad.find((c) => c.id === 'mesh.peers-present')?.evidence).toMatch(/never joined: n9/);
    expect(await lab.node('n1').converge()).toEqual([expect.stringMatching(/removed peer .*not in config/)]);
  });

  it('agents answer signed messages over HTTP and refuse tampered or unsigned ones', async () => {
    const srv = await serveAgentMessages(lab.node('n1'), '127.0.0.1', 0);
    try {
      const port = (srv.address() as { port: number }).port;
      const t = new HttpTransport(() => '127.0.0.1', port);
      expect(await t.send('n1', lab.node('n3').sign('n1', 'ping', {}))).toEqual({ ok: true, name: 'n1' });
      const forged = { ...lab.node('n3').sign('n1', 'members.remove', { name: 'n2' }), body: { name: 'n3' } };
      await expect(t.send('n1', forged)).rejects.toThrow(/bad signature/);
      await expect(t.send('n1', { ...lab.node('n3').sign('n1', 'ping', {}), from: 'n2' })).rejects.toThrow(/bad signature/);
      await expect(t.send('n1', lab.node('n3').sign('n1', 'rotate.run', { what: 'psk' }))).rejects.toThrow(/only accepted from this node/);
      expect((await lab.node('n1').dev.dump())?.peers.length).toBe(2);
    } finally {
      srv.close();
    }
  });

  it('agents refuse a peer flooding them with messages (429, unread), then answer it once its budget refills', async () => {
    const srv = await serveAgentMessages(lab.node('n1'), '127.0.0.1', 0, undefined, { perSecond: 1, burst: 5 });
    try {
      const port = (srv.address() as { port: number }).port;
      const t = new HttpTransport(() => '127.0.0.1', port);
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => t.send('n1', lab.node('n3').sign('n1', 'ping', {}))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused).toHaveLength(7);
      for (const r of refused) expect(String(r.reason)).toMatch(/too many messages/);
      // the bucket refills: a second later the peer is answered again
      await new Promise((r) => setTimeout(r, 1100));
      expect(await t.send('n1', lab.node('n3').sign('n1', 'ping', {}))).toEqual({ ok: true, name: 'n1' });
    } finally {
      srv.close();
    }
  });

  it('a fourth node joins and every pair pings', async () => {
    const t0 = Date.now();
    await lab.addNode(4);
    await lab.converge();
    expect(await lab.waitPing('n4', 'n1')).toBe(true);
    console.log(`mesh join: first reply n4->n1 after ${Date.now() - t0} ms`);
    await lab.node('n1').rotateAllPsks();
    expect(await lab.failingPairs()).toEqual([]);
  });

  it('removing a node: every peer forgets it, its keys are destroyed, its packets are dropped', async () => {
    const gone = lab.node('n2');
    const goneKey = gone.keys.wgPublicKey();
    const addrN1 = lab.node('n1').meshAddressOf('n1');
    expect(await lab.node('n1').removeMember('n2')).toEqual([]);
    for (const other of ['n1', 'n3', 'n4']) {
      const d = await lab.node(other).dev.dump();
      expect(d?.peers.map((p) => p.publicKey)).not.toContain(goneKey);
      expect(d?.peers.length).toBe(2);
    }
    // n2 still has its interface and old config: its packets must go nowhere.
    const r = await run(['ping', '-c', '3', '-i', '0.2', '-W', '1', '-q', addrN1 ?? ''], { netns: lab.ns(2) });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/3 packets transmitted, 0 received/);
    // A message from the removed node is no longer accepted by anyone.
    await expect(lab.transport.send('n1', gone.sign('n1', 'ping', {}))).rejects.toThrow();
    lab.nodes.delete('n2');
    lab.transport.nodes.delete('n2');
    await gone.leave();
    expect(gone.keys.initialized()).toBe(false);
    expect(await lab.failingPairs(['n1', 'n3', 'n4'])).toEqual([]);
  });

  it('kill -9 wireguard-go: the supervisor brings it back and the mesh converges without help', async () => {
    const n1 = lab.node('n1');
    const pid = n1.wireguardGoPid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid ?? 0, 'SIGKILL');
    const t0 = Date.now();
    let back = false;
    while (Date.now() - t0 < 15_000) {
      if (n1.wireguardGoPid !== undefined && n1.wireguardGoPid !== pid && (await lab.ping('n3', 'n1'))) {
        back = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(true);
    console.log(`wireguard-go restart: mesh back after ${Date.now() - t0} ms`);
    expect(await lab.failingPairs(['n1', 'n3', 'n4'])).toEqual([]);
    // The PSKs came back too (configure reapplies them from disk).
    const d = await n1.dev.dump();
    expect(d?.peers.every((p) => p.presharedKey !== null)).toBe(true);
  });
});
