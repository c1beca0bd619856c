import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { loadConfig } from '../config/index.js';
import { run } from '../util/exec.js';
import { summarizeIntegrity } from './integrity.js';
import { runIntegrityCheck, writeManifest, type IntegrityHost } from './integrity-run.js';

export const command: Command = {
  name: 'integrity',
  summary: 'file integrity on this node: integrity manifest | check',
  help: `Usage: bulwark [-c FILE] integrity (manifest | check)

Runs on a node, as root.
  manifest  hashes Bulwark's own files (runtime, units, config) and records the packages' current
            dpkg --verify findings as the node's baseline (/var/lib/bulwark/integrity/manifest.json);
            an old manifest that still holds is kept, else it is re-recorded and the differences are
            printed. Bootstrap runs it on every node; an upgrade must run it again
  check     compares Bulwark's files with the manifest and dpkg --verify with the baseline (files Bulwark
            edits in place and hardening.integrity.ignore left out); writes the result to
            /var/lib/bulwark/integrity/last.json, which \`bulwark audit\` reports. bulwark-integrity.timer runs it.

Exit codes: 0 clean (manifest: written), 1 a file changed, 2 usage error.`,
  async run(ctx, args) {
    const { positionals } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
    if (positionals.length !== 1 || (positionals[0] !== 'manifest' && positionals[0] !== 'check')) throw new UsageError('integrity (manifest | check)');
    const host: IntegrityHost = { root: '/', exec: (argv) => run(argv, { timeoutMs: 600_000 }), now: () => new Date() };
    if (positionals[0] === 'manifest') {
      const w = await writeManifest(host);
      const m = w.manifest;
      const line = `manifest ${w.status}: ${Object.keys(m.files).length} Bulwark files, ${m.packageBaseline.length} baseline package findings${w.differences ? ` (re-recorded: ${w.differences})` : ''}`;
      ctx.out.write(ctx.json ? `${JSON.stringify({ status: w.status, files: Object.keys(m.files).length, packageBaseline: m.packageBaseline.length, differences: w.differences })}\n` : `${line}\n`);
      return EXIT.OK;
    }
    const cfg = loadConfig(ctx.configPath).hardening.integrity;
    const r = await runIntegrityCheck(cfg, host);
    ctx.out.write(ctx.json ? `${JSON.stringify(r)}\n` : `${r.ok ? 'ok' : 'CHANGED'}: ${summarizeIntegrity(r)}\n`);
    return r.ok ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};
