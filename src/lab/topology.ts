/**
 * The lab's shape, as plain data (pure). One "switch" namespace holds two bridges:
 *   public side      192.0.2.0/24     nodes .11 .12 .13, an outside client .1 (namespace PREFIX-out)
 *   management side  198.51.100.0/24  nodes .11 .12 .13, the operator .1 (the host, veth PREFIX-op)
 * Each machine boots in its own namespace PREFIX-nI with interfaces `pub` and `mgmt`. No default route:
 * the machines reach nothing but each other and the operator.
 */
export interface LabNode {
  name: string;
  netns: string;
  pubAddr: string;
  mgmtAddr: string;
}

export interface LabPlan {
  prefix: string;
  switchNs: string;
  outsideNs: string;
  /** Host-side interface joining the management bridge. */
  operatorIf: string;
  operatorAddr: string;
  outsideAddr: string;
  nodes: LabNode[];
  stateDir: string;
  cacheDir: string;
}

export const LAB_CACHE = '/var/cache/bulwark/lab';

export function planLab(count = 3, prefix = 'bwlab', stateDir = `/var/lib/${prefix}`): LabPlan {
  if (count < 1 || count > 80) throw new Error('lab size must be 1..80');
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error('lab prefix must be 1-8 lower-case letters/digits');
  const nodes: LabNode[] = [];
  for (let i = 1; i <= count; i++) {
    nodes.push({ name: `n${i}`, netns: `${prefix}-n${i}`, pubAddr: `192.0.2.${10 + i}`, mgmtAddr: `198.51.100.${10 + i}` });
  }
  return {
    prefix,
    switchNs: `${prefix}-sw`,
    outsideNs: `${prefix}-out`,
    operatorIf: `${prefix}-op`,
    operatorAddr: '198.51.100.1',
    outsideAddr: '192.0.2.1',
    nodes,
    stateDir,
    cacheDir: LAB_CACHE,
  };
}

/** The bulwark.yaml the lab writes for its machines (packages come as a bundle: no mirror in the lab). */
export function labConfigYaml(plan: LabPlan, identityFile: string): string {
  const nodes = plan.nodes
    .map((n) => `  - name: ${n.name}\n    ssh: root@${n.mgmtAddr}\n    endpoint: ${n.pubAddr}\n`)
    .join('');
  return `# Written by \`bulwark lab up\`: ${plan.nodes.length} local Debian machines (systemd-nspawn).
cluster: lab
nodes:
${nodes}ssh:
  identityFile: ${identityFile}
  connectTimeout: 10
provisioning:
  # The lab machines reach no mirror: the CLI carries the packages.
  packages: bundle
firewall:
  # SSH only from the management side, where the operator (this host) lives.
  managementNetworks: [198.51.100.0/24]
  httpRedirect: true
router:
  realms:
    - name: app
      roles:
        - name: backend
          permissions:
            - { uri: com.example., match: prefix, register: true, call: true, publish: true, subscribe: true, disclose: { caller: true, publisher: true } }
        - name: public
          permissions:
            - { uri: com.example., match: prefix, call: true, subscribe: true, disclose: { caller: true } }
  listeners:
    # 443 and 80 are systemd's sockets, handed to the router container by name.
    - type: websocket
      fdName: https
      # anonymous for the public role; ticket/cryptosign for principals from \`bulwark principal\`
      auth: [anonymous, ticket, cryptosign]
      # Made on each node at first start (self-signed); replace with your CA's certificate.
      tls: { cert: /var/lib/bulwark/router/tls/cert.pem, key: /var/lib/bulwark/router/tls/key.pem }
    - { type: redirect, fdName: http }
  auth:
    anonymous: { role: public, realms: [app] }
`;
}
