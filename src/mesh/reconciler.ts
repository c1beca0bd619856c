import type { Server } from 'node:http';
import type { Reconciler, ReconcileContext, ReconcileReport } from '../core/reconciler.js';
import type { Config } from '../config/schema.js';
import { sharedNodeMesh } from './node.js';
import type { MeshNode } from './runtime.js';
import { serveAgentMessages } from './transport.js';

let server: { node: MeshNode; addr: string; srv: Server } | undefined;

/**
 * Converges bw0 to the config: members limited to the configured nodes, interface up (wireguard-go
 * supervised when the kernel has no WireGuard), peers as a diff; serves the other agents on the mesh
 * address; renews PSKs this node encapsulates when missing or older than mesh.pskRotationHours.
 */
export const meshReconciler: Reconciler<Config> = {
  name: 'mesh',
  async reconcile(ctx: ReconcileContext<Config>): Promise<ReconcileReport> {
    const report: ReconcileReport = { name: 'mesh', changed: false, drift: [], notes: [] };
    try {
      const node = sharedNodeMesh(ctx.config, ctx.nodeName, ctx.log);
      if (!node.keys.initialized()) {
        report.notes.push('not joined yet (bulwark mesh join)');
        return report;
      }
      node.init();
      const configured = new Set(ctx.config.nodes.map((n) => n.name));
      const members = node.getMembers();
      for (const m of members) {
        if (!configured.has(m.name)) {
          await node.forgetMember(m.name);
          report.drift.push(`member ${m.name} no longer in the config: forgotten`);
        }
      }
      if (node.getMembers().length <= 1) {
        report.notes.push('no peers known yet (bulwark mesh join)');
        return report;
      }
      report.drift.push(...(await node.converge()));
      const addr = node.meshAddressOf(node.name) ?? '';
      if (!server || server.node !== node || server.addr !== addr) {
        server?.srv.close();
        server = { node, addr, srv: await serveAgentMessages(node, addr, ctx.config.mesh.agentPort, ctx.log) };
        report.notes.push(`agent messages on ${addr}:${ctx.config.mesh.agentPort}`);
      }
      const due = node.pairsDueForPsk(ctx.config.mesh.pskRotationHours * 3_600_000);
      if (due.length) {
        try {
          const done = await node.rotatePsks(due);
          report.drift.push(`PSK renewed with ${done.join(', ')}`);
        } catch (e) {
          report.notes.push(`PSK renewal pending: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      report.changed = report.drift.length > 0;
    } catch (e) {
      report.error = e instanceof Error ? e.message : String(e);
    }
    return report;
  },
};
