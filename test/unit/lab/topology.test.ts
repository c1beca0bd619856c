import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { execFileSync } from 'node:child_process';
import { labAcmeYaml, labConfigYaml, pebbleConfig, planLab, planLabAcme } from '../../../src/lab/topology.js';
import { wantedCertificates } from '../../../src/certs/plan.js';

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
    expect(cfg.provisioning.packages.mode).toBe('bundle');
  });
  it('with acme: every node gets its own lab name and the shared one from the CA on the outside network', () => {
    const plan = planLab(3);
    const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=t', '-days', '1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const cfg = parseConfig(labConfigYaml(plan, '/k', labAcmeYaml(plan, pem)));
    expect(cfg.acme).toMatchObject({
      directory: 'https://192.0.2.1/dir',
      names: { n1: 'n1.lab.bulwark.test', n2: 'n2.lab.bulwark.test', n3: 'n3.lab.bulwark.test' },
      sharedName: 'wamp.lab.bulwark.test',
    });
    expect(cfg.acme?.caRoot?.trim()).toBe(pem.trim());
    expect(wantedCertificates(cfg, 'n2')[0]?.names).toEqual(['n2.lab.bulwark.test', 'wamp.lab.bulwark.test']);
    const acme = planLabAcme(plan);
    expect(acme.records.at(-1)).toEqual({ host: 'wamp.lab.bulwark.test', addresses: ['192.0.2.11', '192.0.2.12', '192.0.2.13'] });
    // the directory listens on 443: the nodes' firewall lets 443 out and nothing else of the sort
    expect(JSON.parse(pebbleConfig(plan, acme)).pebble).toMatchObject({ listenAddress: '192.0.2.1:443', httpPort: 80 });
  });
  it('rejects silly sizes and prefixes', () => {
    expect(() => planLab(0)).toThrow();
    expect(() => planLab(3, 'Bad-Prefix')).toThrow();
  });
});
