import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, parseConfig } from '../../../src/config/index.js';
import { STARTER } from '../../../src/config/starter.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

const GOOD = `cluster: lab
nodes:
  - name: n1
    ssh: root@198.51.100.11
    endpoint: 192.0.2.11
  - name: n2
    ssh: 198.51.100.12:2222
    endpoint: 192.0.2.12
`;

describe('bulwark.yaml validation', () => {
  it('accepts a good file and fills the secure defaults', () => {
    const cfg = parseConfig(GOOD);
    expect(cfg.cluster).toBe('lab');
    expect(cfg.nodes.map((n) => n.name)).toEqual(['n1', 'n2']);
    expect(cfg.provisioning.packages.mode).toBe('apt');
    expect(cfg.ssh.identityFile).toBe('~/.ssh/id_ed25519');
  });

  it('the starter file written by `bulwark init` validates as it stands', () => {
    expect(parseConfig(STARTER).nodes).toHaveLength(3);
  });

  it('rejects a typo in a key with its line and column', () => {
    const text = GOOD.replace('    endpoint: 192.0.2.12', '    endpiont: 192.0.2.12');
    expect(problems(text)).toEqual(['c.yaml:6:5: nodes.1.endpoint: is required', 'c.yaml:8:5: nodes.1.endpiont: unknown key "endpiont"']);
  });

  it('rejects an unknown top-level section', () => {
    expect(problems(GOOD + 'firewal: {}\n')).toEqual(['c.yaml:9:1: firewal: unknown key "firewal"']);
  });

  it('points at the bad value of a field', () => {
    const text = GOOD.replace('endpoint: 192.0.2.11', 'endpoint: 192.0.2.300');
    expect(problems(text)).toEqual(['c.yaml:5:15: nodes.0.endpoint: must be an IPv4 or IPv6 address']);
  });

  it('reports every problem, not only the first', () => {
    const text = `cluster: Bad_Name\nnodes:\n  - name: n1\n    ssh: "not a target!"\n    endpoint: 192.0.2.1\n`;
    const ps = problems(text);
    expect(ps).toHaveLength(2);
    expect(ps[0]).toMatch(/^c\.yaml:1:10: cluster: /);
    expect(ps[1]).toMatch(/^c\.yaml:4:10: nodes\.0\.ssh: must be \[user@\]host\[:port\]/);
  });

  it('rejects duplicate node names and duplicate endpoints', () => {
    const text = GOOD.replace('name: n2', 'name: n1').replace('192.0.2.12', '192.0.2.11');
    const ps = problems(text);
    expect(ps).toContain('c.yaml:6:11: nodes.1.name: duplicate node name "n1" (also nodes.0)');
    expect(ps).toContain('c.yaml:8:15: nodes.1.endpoint: endpoint 192.0.2.11 is also used by nodes.0 (n1)');
  });

  it('reports YAML syntax errors with a position', () => {
    const ps = problems('cluster: a\nnodes: [\n');
    expect(ps[0]).toMatch(/^c\.yaml:\d+:\d+: \(document\): /);
  });

  it('rejects a missing required section', () => {
    expect(problems('cluster: a\n')).toEqual(['c.yaml:1:1: nodes: is required']);
  });
});
