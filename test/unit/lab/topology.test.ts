import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { labConfigYaml, planLab } from '../../../src/lab/topology.js';

describe('lab plan', () => {
  it('puts nodes on the documentation ranges only, in their own namespaces', () => {
    const p = planLab(3);
    expect(p.nodes).toEqual([
      { name: 'n1', netns: 'bwlab-n1', pubAddr: '192.0.2.11', mgmtAddr: '198.51.100.11' },
      { name: 'n2', netns: 'bwlab-n2', pubAddr: '192.0.2.12', mgmtAddr: '198.51.100.12' },
      { name: 'n3', netns: 'bwlab-n3', pubAddr: '192.0.2.13', mgmtAddr: '198.51.100.13' },
    ]);
    expect(p.operatorAddr).toBe('198.51.100.1');
  });
  it('writes a config that validates and carries packages as a bundle', () => {
    const cfg = parseConfig(labConfigYaml(planLab(3), '/var/lib/bwlab/operator/id_ed25519'));
    expect(cfg.nodes.map((n) => n.ssh)).toEqual(['root@198.51.100.11', 'root@198.51.100.12', 'root@198.51.100.13']);
    expect(cfg.provisioning.packages).toBe('bundle');
  });
  it('rejects silly sizes and prefixes', () => {
    expect(() => planLab(0)).toThrow();
    expect(() => planLab(3, 'Bad-Prefix')).toThrow();
  });
});
