/** The commented starter file `bulwark init` writes. It must validate as it stands (a unit test checks). */
export const STARTER = `# Bulwark cluster inventory. Validate with: bulwark validate
# Every section but "cluster" and "nodes" is optional; the defaults are the secure policy.
cluster: prod

# The servers. "ssh" is how the operator's machine reaches a node (management network);
# "endpoint" is its public address (443 for clients, WireGuard between nodes).
nodes:
  - name: n1
    ssh: root@198.51.100.11
    endpoint: 192.0.2.11
  - name: n2
    ssh: root@198.51.100.12
    endpoint: 192.0.2.12
  - name: n3
    ssh: root@198.51.100.13
    endpoint: 192.0.2.13

ssh:
  # Key used to log in to the nodes. Host keys are pinned on first use in
  # bulwark.known_hosts beside this file; a changed key is refused.
  identityFile: ~/.ssh/id_ed25519
  # The nodes' own sshd (a drop-in Bulwark keeps): keys only, no forwarding, modern algorithms. Root logs
  # in by key only; with adminUser, root not at all (then connect as that user, with passwordless sudo).
  # server:
  #   adminUser: ops

firewall:
  # Where SSH may come from (the operator's management network). Required in practice: with none,
  # SSH is closed, and bootstrap refuses a config that would lock out the machine running it.
  managementNetworks: [198.51.100.0/24]
  # TCP/80 only to redirect to https.
  httpRedirect: true

# Certificates from an ACME CA for every node (its own name and the cluster's shared name), renewed by
# the agent and reloaded live. Needs DNS for the names and the router's port-80 listener, e.g.
#   router: { listeners: [ ..., { type: redirect, fdName: http, acmeChallengeDir: /var/lib/bulwark/router/acme-challenge } ] }
# Or, without port 80, "challenge: tls-alpn-01" and acmeChallengeDir: /var/lib/bulwark/router/acme-challenge on the
# wss listener (the TLS port answers the CA).
# Without it each node keeps the self-signed certificate it made itself.
# acme:
#   directory: https://acme-v02.api.letsencrypt.org/directory
#   email: ops@example.org
#   names: { n1: n1.example.org, n2: n2.example.org, n3: n3.example.org }
#   sharedName: wamp.example.org

metrics:
  # Each agent serves /metrics (Prometheus text, the router's included) and a status page at / on this
  # port, on its mesh address and its addresses inside firewall.managementNetworks; nowhere else.
  port: 9110

# With two or more nodes the routers become one WAMP router over NATS (nats-server, installed by
# bootstrap): clients on 127.0.0.1 only, routes over the mesh only with mutual TLS. One node: no NATS.
# fabric:
#   natsServer: /usr/sbin/nats-server   # another nats-server binary, if you must

provisioning:
  # "apt": packages come from each node's own apt sources.
  # "bundle": the CLI downloads the .debs here and uploads them (air-gapped nodes).
  # Or name your mirrors: they replace the nodes' own distro sources and the firewall lets apt reach only them:
  #   packages:
  #     mode: apt
  #     mirrors: [http://deb.debian.org/debian]
  #     securityMirror: http://security.debian.org/debian-security
  packages: apt

# Security updates: unattended-upgrades installs the security archive's updates daily, needrestart restarts
# services that still use replaced libraries. No automatic reboot unless you turn it on (then at reboot.time).
updates:
  enabled: true
  reboot: { enabled: false, time: "04:00" }
  restartServices: true
`;
