import type { Config } from '../config/schema.js';
import type { BootstrapGuard } from '../core/cluster.js';
import { ipInCidr } from './cidr.js';
import { factsFromConfig } from './node-facts.js';
import { planFirewall, type FirewallPlan } from './plan.js';

/*
 * The one SSH-lockout guard. `firewall apply` checks the plan it is about to apply; bootstrap checks the plan
 * the node's agent will apply from the config (through `bootstrapGuard`, before anything is installed). Both ask
 * the same question of the same plan: would a NEW connection from the SSH client to the port it came in on
 * still be accepted?
 */

/** The SSH path a command runs over, from $SSH_CONNECTION ("client-ip client-port server-ip server-port"). */
export interface SshPath {
  clientAddr: string;
  localPort: number;
}

export function parseSshConnection(value: string | undefined): SshPath | undefined {
  const f = value?.trim().split(/\s+/);
  if (f?.length !== 4) return undefined;
  const port = Number(f[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { clientAddr: (f[0] ?? '').replace(/^::ffff:(?=\d+\.)/, ''), localPort: port };
}

export type LockoutVerdict = { ok: true; reason: string } | { ok: false; reason: string };

/**
 * Would the plan still accept a NEW TCP connection from the SSH client to the port it came in on? (The running
 * session survives as "established" either way; the guard is about the next login.) Pure.
 */
export function checkSshPath(plan: FirewallPlan, path: SshPath | undefined): LockoutVerdict {
  if (!path) return { ok: true, reason: 'not running over SSH' };
  const hit = plan.inputAllows.find(
    (a) => a.proto === 'tcp' && !a.iifname && a.ports.some(([lo, hi]) => path.localPort >= lo && path.localPort <= hi) && (a.from === null || a.from.some((c) => ipInCidr(path.clientAddr, c))),
  );
  if (hit) return { ok: true, reason: `${path.clientAddr} → port ${path.localPort} is accepted by ${hit.id}` };
  return {
    ok: false,
    reason: `this ruleset would refuse new SSH connections from ${path.clientAddr} to port ${path.localPort} (the path this command runs over): the firewall would lock out this machine. Add its network to firewall.managementNetworks, or set firewall.ssh.fromAnywhere: true if you mean it`,
  };
}

/** The guard for a config not yet on the node: the plan its agent will apply (no probed facts needed for SSH rules). Pure. */
export function configLockout(config: Config, nodeName: string, sshConnection: string | undefined): LockoutVerdict {
  if (!config.firewall.enabled) return { ok: true, reason: 'firewall.enabled is false' };
  const plan = planFirewall(config.firewall, factsFromConfig(config, nodeName, { resolvers: [] }));
  return checkSshPath(plan, parseSshConnection(sshConnection));
}

/** Bootstrap refuses a node whose firewall would cut the SSH path bootstrap is using. */
export const bootstrapGuard: BootstrapGuard<Config> = {
  name: 'firewall',
  check(config, node, sshConnection) {
    const v = configLockout(config, node, sshConnection);
    return v.ok ? undefined : v.reason;
  },
};
