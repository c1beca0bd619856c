import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { planLabMirror, releaseFile } from '../../../src/lab/mirror.js';
import { labConfigYaml, planLab } from '../../../src/lab/topology.js';

const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0abcFjAKBggqhkjOPQMBBw==\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n';

describe('the lab mirror in the lab config', () => {
  it('every node gets the mirror and its key; n3 installs from it (apt), n1 and n2 keep the bundle', () => {
    const plan = planLab(3);
    const m = planLabMirror(plan);
    const cfg = parseConfig(labConfigYaml(plan, '/k', '', { url: m.url, securityUrl: m.securityUrl, publicKey: KEY }));
    expect(cfg.provisioning.packages).toMatchObject({ mode: 'bundle', mirrors: ['http://192.0.2.1/debian'], securityMirror: 'http://192.0.2.1/debian-security' });
    expect(cfg.provisioning.packages.signedBy?.trim()).toBe(KEY.trim());
    expect(cfg.nodes.map((n) => n.packages)).toEqual([undefined, undefined, 'apt']);
  });

  it("the security suite's Release carries Debian's security fields and a SHA-256 per index", () => {
    const text = releaseFile({
      origin: 'Debian',
      label: 'Debian-Security',
      suite: 'stable-security',
      codename: 'bookworm-security',
      arch: 'amd64',
      date: new Date(0),
      files: [{ path: 'main/binary-amd64/Packages', data: Buffer.from('') }],
    });
    expect(text).toContain('Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\n');
    expect(text).toContain(' e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages');
  });
});
