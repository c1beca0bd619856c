import { lstat, readFile } from 'node:fs/promises';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { effectiveConfig, nodeSshdHost, sshdVersion, type SshdHost } from './apply.js';
import { checkEffective, parseSshdT, renderSshdDropIn, sshdDirectives } from './render.js';

/**
 * sshd checks: the drop-in as rendered (0600), and every directive's effective value as `sshd -T` prints it, so an
 * earlier drop-in or a line above the main file's Include that overrides Bulwark's value is seen.
 */
export function sshdAudit(host: () => SshdHost = nodeSshdHost): AuditProvider<Config> {
  return {
    name: 'sshd',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const cfg = ctx.config.ssh.server;
      const version = await sshdVersion(h);
      if (!version) return [{ id: 'sshd.installed', status: 'n/a', evidence: 'no sshd on this host' }];
      const checks: AuditCheck[] = [];
      const want = renderSshdDropIn(cfg, version);
      let cur: string | undefined;
      let mode: number | undefined;
      try {
        [cur, mode] = await Promise.all([readFile(h.dropIn, 'utf8'), lstat(h.dropIn).then((s) => s.mode & 0o777)]);
      } catch {
        cur = undefined;
      }
      const fileOk = cur === want && mode === 0o600;
      checks.push({
        id: 'sshd.dropin',
        status: !cfg.enabled ? 'n/a' : fileOk ? 'pass' : 'fail',
        evidence: !cfg.enabled
          ? 'ssh.server.enabled is false'
          : cur === undefined
            ? `${h.dropIn} missing`
            : cur !== want
              ? `${h.dropIn} differs from Bulwark's`
              : `${h.dropIn} mode ${mode?.toString(8)}${fileOk ? '' : ', want 600'}`,
      });
      const eff = await effectiveConfig(h);
      if (!eff.ok) {
        checks.push({ id: 'sshd.effective', status: 'fail', evidence: `sshd -T failed: ${eff.error}` });
        return checks;
      }
      const seen = parseSshdT(eff.text);
      for (const c of checkEffective(sshdDirectives(cfg, version), seen)) {
        const evidence = c.ok ? c.seen : `sshd -T shows ${c.seen}, want ${c.want}`;
        checks.push({
          id: `sshd.${c.keyword}`,
          status: c.ok ? 'pass' : 'fail',
          evidence: c.keyword === 'PermitRootLogin' && c.ok && c.want !== 'no' ? `${evidence} (root by key only; set ssh.server.adminUser to forbid root)` : evidence,
          ...(c.baseline ? { baseline: c.baseline } : {}),
        });
      }
      return checks;
    },
  };
}

export const provider = sshdAudit();
