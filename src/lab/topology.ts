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

/** The lab's DNS names: each node's own, and the cluster's shared one (resolving to every node). */
export const LAB_DOMAIN = 'lab.bulwark.test';
export const labNodeName = (n: LabNode): string => `${n.name}.${LAB_DOMAIN}`;
export const LAB_SHARED_NAME = `wamp.${LAB_DOMAIN}`;

/**
 * The lab's ACME CA, on the outside network (namespace PREFIX-out, 192.0.2.1): pebble's directory on 443
 * (the nodes' firewall lets 443 out), its management API (the CA root) on 15000, and
 * pebble-challtestsrv's DNS on 8053 answering the lab names, which pebble asks (-dnsserver).
 */
export interface LabAcme {
  dir: string;
  directory: string;
  management: string;
  dns: string;
  dnsManagement: string;
  /** The CA root of the issued certificates (fetched from pebble once it runs). */
  root: string;
  /** The CA that signs the directory's own TLS certificate (the config's acme.caRoot). */
  directoryCa: string;
  /** A records: name → addresses. */
  records: { host: string; addresses: string[] }[];
}

export function planLabAcme(plan: LabPlan): LabAcme {
  const dir = `${plan.stateDir}/acme`;
  const a = plan.outsideAddr;
  return {
    dir,
    directory: `https://${a}/dir`,
    management: `https://${a}:15000`,
    dns: `${a}:8053`,
    dnsManagement: `http://${a}:8055`,
    root: `${dir}/root.pem`,
    directoryCa: `${dir}/directory-ca.pem`,
    records: [...plan.nodes.map((n) => ({ host: labNodeName(n), addresses: [n.pubAddr] })), { host: LAB_SHARED_NAME, addresses: plan.nodes.map((n) => n.pubAddr) }],
  };
}

/** pebble's config file (JSON) for the lab. Pure. */
export function pebbleConfig(plan: LabPlan, acme: LabAcme): string {
  const a = plan.outsideAddr;
  return JSON.stringify(
    {
      pebble: {
        listenAddress: `${a}:443`,
        managementListenAddress: `${a}:15000`,
        certificate: `${acme.dir}/directory.pem`,
        privateKey: `${acme.dir}/directory.key`,
        httpPort: 80,
        tlsPort: 443,
        // Put in every certificate so clients see where revocation would be checked (pebble runs no
        // responder; testssl.sh rates a certificate with neither CRL nor OCSP URI as HIGH).
        ocspResponderURL: `http://${a}:4002`,
        externalAccountBindingRequired: false,
        certificateValidityPeriod: 90 * 86_400,
      },
    },
    null,
    2,
  );
}

/** The `acme:` section of the lab config (the directory CA inline: the nodes have no copy of it). Pure. */
export function labAcmeYaml(plan: LabPlan, directoryCaPem: string): string {
  const acme = planLabAcme(plan);
  const names = plan.nodes.map((n) => `    ${n.name}: ${labNodeName(n)}\n`).join('');
  const ca = directoryCaPem
    .trim()
    .split('\n')
    .map((l) => `    ${l}\n`)
    .join('');
  return `acme:
  # The lab's own CA (pebble on the outside network); its root for clients: bulwark lab status --json (acme.root)
  directory: ${acme.directory}
  email: operator@${LAB_DOMAIN}
  names:
${names}  sharedName: ${LAB_SHARED_NAME}
  caRoot: |
${ca}`;
}

/** The lab's apt mirror as the config names it (src/lab/mirror.ts). */
export interface LabMirrorRef {
  url: string;
  securityUrl: string;
  /** ASCII-armored public key the mirror signs with. */
  publicKey: string;
}

/** The node that installs its packages from the lab mirror (`packages: apt`); the others get the bundle. */
export const LAB_APT_NODE = 'n3';

/** The config's `provisioning:` section: the offline bundle, or with the lab mirror its sources too. Pure. */
export function labProvisioningYaml(mirror?: LabMirrorRef): string {
  if (!mirror) return `provisioning:\n  # The lab machines reach no mirror: the CLI carries the packages.\n  packages: bundle\n`;
  const key = mirror.publicKey
    .trim()
    .split('\n')
    .map((l) => `      ${l}\n`)
    .join('');
  return `provisioning:
  packages:
    # The offline bundle for every node but ${LAB_APT_NODE} (which says packages: apt); every node's apt sources
    # point at the lab's own mirror on the outside network, signed with a key made for this lab.
    mode: bundle
    mirrors: [${mirror.url}]
    securityMirror: ${mirror.securityUrl}
    signedBy: |
${key}`;
}

/** The bulwark.yaml the lab writes for its machines. Pure. */
export function labConfigYaml(plan: LabPlan, identityFile: string, acmeYaml = '', mirror?: LabMirrorRef): string {
  const nodes = plan.nodes.map((n) => `  - name: ${n.name}\n    ssh: root@${n.mgmtAddr}\n    endpoint: ${n.pubAddr}\n${mirror && n.name === LAB_APT_NODE ? '    packages: apt\n' : ''}`).join('');
  return `# Written by \`bulwark lab up\`: ${plan.nodes.length} local Debian machines (systemd-nspawn).
cluster: lab
nodes:
${nodes}ssh:
  identityFile: ${identityFile}
  connectTimeout: 10
${labProvisioningYaml(mirror)}firewall:
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
      # Self-signed, made on each node at first start, until the agent has one from the ACME CA (acme:).
      tls: { cert: /var/lib/bulwark/router/tls/cert.pem, key: /var/lib/bulwark/router/tls/key.pem }
    # Port 80: ACME HTTP-01 answers, everything else redirected to https.
    - { type: redirect, fdName: http, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge }
  auth:
    anonymous: { role: public, realms: [app] }
${acmeYaml}`;
}
