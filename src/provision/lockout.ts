import type { Config } from '../config/schema.js';
import { ipInCidr, mustCidr } from '../firewall/cidr.js';

/**
 * Would the configured firewall cut the SSH path this bootstrap is using? `sshConnection` is the node's
 * $SSH_CONNECTION ("client-ip client-port server-ip server-port"). Returns a message when it would. Pure.
 */
export function lockoutProblem(cfg: Config, sshConnection: string): string | undefined {
  const fw = cfg.firewall;
  if (!fw.enabled || fw.ssh.fromAnywhere) return undefined;
  const [client, , , port] = sshConnection.trim().split(/\s+/);
  if (!client) return undefined;
  if (port && Number(port) !== fw.ssh.port) return `this SSH session uses port ${port} but firewall.ssh.port is ${fw.ssh.port}: the firewall would lock out this machine`;
  const ip = client.replace(/^::ffff:/, '');
  if (fw.managementNetworks.some((c) => ipInCidr(ip, mustCidr(c)))) return undefined;
  return `firewall.managementNetworks (${fw.managementNetworks.join(', ') || 'none'}) does not include ${ip}, the address this bootstrap comes from: the firewall would lock out this machine. Add its network, or set firewall.ssh.fromAnywhere: true if you mean it`;
}
