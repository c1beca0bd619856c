import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { STARTER } from '../../../src/config/starter.js';
import { MemberSyncError, syncMembers } from '../../../src/mesh/join.js';
import { generatePrivateKey, publicKeyOf } from '../../../src/mesh/keys.js';
import { generateKemKeyPair } from '../../../src/mesh/psk.js';
import { generateSigningKey, signingPublicKey } from '../../../src/mesh/signing.js';
import type { NodeRun } from '../../../src/core/cluster.js';

const cfg = parseConfig(STARTER); // n1, n2, n3
const publicFacts = Object.fromEntries(
  ['n1', 'n2', 'n3'].map((name) => [
    name,
    { name, publicKey: publicKeyOf(generatePrivateKey()), signKey: signingPublicKey(generateSigningKey()), kemKey: Buffer.from(generateKemKeyPair().publicKey).toString('base64') },
  ]),
);

/** Nodes as the sync sees them over SSH: what each answers, and every command it was sent. */
function cluster(state: Record<string, { down?: string; known?: string[] }>) {
  const sent: string[] = [];
  const run = async (names: string[], argv: string[]): Promise<NodeRun[]> =>
    names.map((node) => {
      sent.push(`${node} ${argv[0]} ${argv[1]}`);
      const s = state[node] ?? {};
      if (s.down) return { node, code: 255, stdout: '', stderr: s.down };
      if (argv[1] === 'facts') return { node, code: 0, stdout: JSON.stringify({ ...publicFacts[node], knownMembers: s.known ?? [] }), stderr: '' };
      return { node, code: 0, stdout: `${node}: 3 members`, stderr: '' };
    });
  return { run, sent };
}

describe('mesh member sync', () => {
  it('gives every reporting node the full list and has the changed ones converge', async () => {
    const c = cluster({});
    const r = await syncMembers(cfg, c.run);
    expect(r.members.map((m) => m.name)).toEqual(['n1', 'n2', 'n3']);
    expect(r.members.map((m) => m.endpoint)).toEqual(['192.0.2.11', '192.0.2.12', '192.0.2.13']);
    expect(c.sent.filter((x) => x.includes('set-members'))).toHaveLength(3);
    expect(c.sent.filter((x) => x.includes('agent reload'))).toHaveLength(3);
  });

  it('a node never bootstrapped and unknown to the mesh simply joins later', async () => {
    const c = cluster({ n3: { down: 'n3 is not bootstrapped (no bulwark on it)' } });
    const r = await syncMembers(cfg, c.run);
    expect(r.members.map((m) => m.name)).toEqual(['n1', 'n2']);
  });

  it('refuses to drop a member that cannot report, and sends nothing', async () => {
    const c = cluster({ n1: { known: ['n1', 'n2', 'n3'] }, n2: { known: ['n1', 'n2', 'n3'] }, n3: { down: 'n3 (198.51.100.13:22): connect ECONNREFUSED' } });
    await expect(syncMembers(cfg, c.run)).rejects.toThrow(/n3 \(n3 \(198\.51\.100\.13:22\): connect ECONNREFUSED\): a mesh member that cannot report now; member lists left unchanged/);
    expect(c.sent.filter((x) => !x.includes('facts'))).toEqual([]);
  });

  it('a join of a node that cannot report fails before anything is sent', async () => {
    const c = cluster({ n2: { down: 'n2 is not bootstrapped (no bulwark on it)' } });
    await expect(syncMembers(cfg, c.run, 'n2')).rejects.toThrow(MemberSyncError);
    expect(c.sent.filter((x) => !x.includes('facts'))).toEqual([]);
  });
});
