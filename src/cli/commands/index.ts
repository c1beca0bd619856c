import type { Command } from '../../core/command.js';
import { loadAuditProviders, loadBootstrapGuards, loadClusterSteps, loadNodePrepSteps, loadPassObservers, loadReconcilers } from '../plugins.js';

/**
 * Every subcommand, loaded on demand so `bulwark agent` doesn't pay for the router and vice versa.
 * Add a capability's command here with one line.
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command>; ownOptions?: readonly string[] }> = {
  init: { summary: 'write a commented starter bulwark.yaml', load: async () => (await import('./init.js')).command },
  validate: { summary: 'check bulwark.yaml; every problem as file:line:col', load: async () => (await import('./validate.js')).command },
  lab: { summary: 'three local Debian machines for trying Bulwark (up|down|status)', load: async () => (await import('../../lab/command.js')).command },
  bootstrap: {
    summary: 'provision nodes over SSH: preflight, packages, runtime, units',
    load: async () => (await import('../../provision/command.js')).bootstrapCommand({ guards: loadBootstrapGuards, clusterSteps: loadClusterSteps, prepSteps: loadNodePrepSteps }),
  },
  upgrade: { summary: "replace Bulwark's runtime on the nodes one at a time, rolling back an unhealthy node", load: async () => (await import('../../provision/upgrade-command.js')).upgradeCommand },
  status: { summary: "show the agents' state per node", load: async () => (await import('../../agent/status-command.js')).command },
  agent: { summary: 'run the host agent (what bulwark-agent.service starts)', load: async () => (await import('../../agent/command.js')).agentCommand(loadReconcilers, loadPassObservers) },
  mesh: { summary: 'WireGuard mesh: status, join NODE, remove NODE', load: async () => (await import('../../mesh/command.js')).command },
  keys: { summary: 'rotate mesh keys: keys rotate --wireguard [--node N|--all] | --psk', load: async () => (await import('../../mesh/keys-command.js')).command },
  firewall: { summary: 'plan, apply, confirm, roll back and inspect the nftables firewall', load: async () => (await import('../../firewall/command.js')).command },
  audit: { summary: 'check live nodes against the policy; exit 1 on any failure', load: async () => (await import('../../audit/audit-command.js')).auditCommand(loadAuditProviders) },
  // `bulwark router --config FILE` is the router's own config file; -c stays the cluster config
  router: { ownOptions: ['config'], summary: 'run the WAMP router in the foreground (what bulwark-router runs)', load: async () => (await import('../../containers/router-command.js')).command },
  principal: { summary: 'WAMP principals: add, list, rotate, revoke, enroll, approve, reject', load: async () => (await import('../../principals/command.js')).command },
  integrity: { summary: 'file integrity on this node: integrity manifest | check', load: async () => (await import('../../hardening/integrity-command.js')).command },
  app: { summary: 'app containers: add, remove, list, logs', load: async () => (await import('../../containers/command.js')).command },
};
