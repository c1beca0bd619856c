import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { acceptMeshAnswers, meshPublisher, type PublishTarget } from '../../../src/certs/mesh-publish.js';
import { peerMessengerOf } from '../../../src/mesh/peers.js';
import { createLogger } from '../../../src/log/logger.js';
import { HttpTransport, serveAgentMessages } from '../../../src/mesh/transport.js';
import { MeshLab } from '../mesh/lab.js';
import { tempDir } from '../router/helpers.js';

// The shared name's HTTP-01 answer reaches every node's challenge directory through signed agent messages
// (three node runtimes with their own Ed25519 keys; in-process and over HTTP), and only for the shared name.
const lab = new MeshLab('bwt-acmm', 'bwam');
const tmp = tempDir('bwt-acmm-');
const log = createLogger({ pretty: false, level: 'silent' });
const config = parseConfig(`cluster: c
nodes:
  - { name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11 }
  - { name: n2, ssh: root@198.51.100.12, endpoint: 192.0.2.12 }
  - { name: n3, ssh: root@198.51.100.13, endpoint: 192.0.2.13 }
router:
  listeners:
    - { type: websocket, fdName: https, tls: { cert: /x/cert.pem, key: /x/key.pem } }
    - { type: redirect, fdName: http, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge }
acme:
  directory: https://192.0.2.1/dir
  email: ops@example.org
  names: { n1: n1.example.org, n2: n2.example.org, n3: n3.example.org }
  sharedName: wamp.example.org
`);
const dir = (n: string) => join(tmp.dir, n);
const target = (n: string): PublishTarget => ({ config, challengeDir: dir(n), log });
const token = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const ka = `${token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const answer = (n: string, t = token) => (existsSync(join(dir(n), t)) ? readFileSync(join(dir(n), t), 'utf8') : undefined);

beforeAll(async () => {
  await lab.setup();
  for (const i of [1, 2, 3]) await lab.addNode(i);
  const facts = lab.facts();
  for (const n of lab.nodes.values()) {
    n.setMembers(facts);
    acceptMeshAnswers(peerMessengerOf(n), () => target(n.name));
  }
});
afterAll(async () => {
  await lab.teardown();
  tmp.cleanup();
});

describe('HTTP-01 answers for the shared name over the mesh', () => {
  it('publishes the shared name answer on every node and removes it everywhere', async () => {
    const p = meshPublisher(peerMessengerOf(lab.node('n1')), target('n1'));
    await p.publish(token, ka, 'wamp.example.org');
    expect(['n1', 'n2', 'n3'].map((n) => answer(n))).toEqual([ka, ka, ka]);
    await p.unpublish(token, 'wamp.example.org');
    expect(['n1', 'n2', 'n3'].map((n) => answer(n))).toEqual([undefined, undefined, undefined]);
  });

  it("keeps a node's own name answer on that node alone", async () => {
    await meshPublisher(peerMessengerOf(lab.node('n2')), target('n2')).publish(token, ka, 'n2.example.org');
    expect(['n1', 'n2', 'n3'].map((n) => answer(n))).toEqual([undefined, ka, undefined]);
    await meshPublisher(peerMessengerOf(lab.node('n2')), target('n2')).unpublish(token, 'n2.example.org');
  });

  it('refuses answers for any other name, and fails the publication when a node is unreachable', async () => {
    await expect(lab.transport.send('n2', lab.node('n1').sign('n2', 'acme.publish', { name: 'n1.example.org', token, keyAuthorization: ka }))).rejects.toThrow(/accepted for wamp\.example\.org only/);
    await expect(lab.transport.send('n2', lab.node('n1').sign('n2', 'acme.publish', { name: 'wamp.example.org', token: '../../../etc/passwd-xxxxxxxxxxxx', keyAuthorization: ka }))).rejects.toThrow();
    expect(readdirSync(dir('n2'))).toEqual([]);
    lab.transport.unreachable.add('n3');
    try {
      await expect(meshPublisher(peerMessengerOf(lab.node('n1')), target('n1')).publish(token, ka, 'wamp.example.org')).rejects.toThrow(
        /the answer for wamp\.example\.org could not be published on every node \(n3: n3 is unreachable\)/,
      );
    } finally {
      lab.transport.unreachable.delete('n3');
    }
  });

  it('travels as a signed HTTP agent message; a tampered one is refused', async () => {
    const srv = await serveAgentMessages(lab.node('n3'), '127.0.0.1', 0);
    try {
      const t = new HttpTransport(() => '127.0.0.1', (srv.address() as { port: number }).port);
      const t2 = 'A'.repeat(30) + 'bcdefghijklm';
      const ka2 = `${t2}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
      const forged = {
        ...lab.node('n1').sign('n3', 'acme.publish', { name: 'wamp.example.org', token: t2, keyAuthorization: ka2 }),
        body: { name: 'wamp.example.org', token: t2, keyAuthorization: `${t2}.evilevilevilevilevilevilevilevil` },
      };
      await expect(t.send('n3', forged)).rejects.toThrow(/bad signature/);
      expect(answer('n3', t2)).toBeUndefined();
      expect(await t.send('n3', lab.node('n1').sign('n3', 'acme.publish', { name: 'wamp.example.org', token: t2, keyAuthorization: ka2 }))).toEqual({ ok: true });
      expect(answer('n3', t2)).toBe(ka2);
    } finally {
      srv.close();
    }
  });
});
