import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { nodeHardeningHost, readDistro, readSysctls, sysctlPathReadOnly, type HardeningHost } from './apply.js';
import { SYSCTL_BASELINES } from './baselines.js';
import { desiredSysctls, renderHardening } from './render.js';

async function readOr(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Dump and sysctl checks: each owned file as rendered, each value live (or n/a where /proc/sys is read-only). */
export function hardeningAudit(host: () => HardeningHost = nodeHardeningHost): AuditProvider<Config> {
  return {
    name: 'hardening',
    async run(ctx): Promise<AuditCheck[]> {
      const h = host();
      const cfg = ctx.config.hardening;
      const checks: AuditCheck[] = [];
      const { files, masked } = renderHardening(cfg, await readDistro(h.root));
      for (const f of files) {
        const cur = await readOr(join(h.root, f.path));
        checks.push({
          id: `${f.mechanism}`,
          status: cur === f.content ? 'pass' : 'fail',
          evidence: cur === undefined ? `${f.path} missing` : cur === f.content ? f.path : `${f.path} differs from Bulwark's`,
        });
      }
      for (const u of masked) {
        let ok = false;
        try {
          ok = (await lstat(join(h.root, u.path))).isSymbolicLink() && (await readlink(join(h.root, u.path))) === '/dev/null';
        } catch {
          ok = false;
        }
        checks.push({ id: `${u.mechanism}.${u.unit}`, status: ok ? 'pass' : 'fail', evidence: ok ? `${u.unit} masked` : `${u.unit} not masked` });
      }
      const mountinfo = (await h.exec(['cat', '/proc/self/mountinfo'])).stdout;
      const wanted = desiredSysctls(cfg);
      const live = await readSysctls(
        wanted.map((s) => s.key),
        h.exec,
      );
      for (const s of wanted) {
        const cur = live.get(s.key)!;
        const id = `${s.mechanism === 'dumps.sysctl' ? 'dumps' : 'sysctl'}.${s.key}`;
        const b = SYSCTL_BASELINES[s.key] ? { baseline: SYSCTL_BASELINES[s.key] } : {};
        if (cur.value === s.value) checks.push({ id, status: 'pass', evidence: `${cur.value}`, ...b });
        else if (cur.value === undefined) checks.push({ id, status: 'n/a', evidence: `not on this kernel (${cur.error ?? 'unreadable'})`, ...b });
        else if (sysctlPathReadOnly(mountinfo, s.key)) checks.push({ id, status: 'n/a', evidence: `written, not live: read-only (kernel shows ${cur.value})`, ...b });
        else checks.push({ id, status: 'fail', evidence: `kernel shows ${cur.value}, want ${s.value}`, ...b });
      }
      if (cfg.disableDumps) {
        const limits = (await readOr('/proc/self/limits')) ?? '';
        const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(limits);
        checks.push({ id: 'dumps.core-limit-live', status: m && m[1] === '0' && m[2] === '0' ? 'pass' : 'fail', evidence: m ? `core limit soft ${m[1]} hard ${m[2]} (this session)` : 'unreadable' });
        const cmdline = (await readOr('/proc/cmdline')) ?? '';
        const ck = /(?:^|\s)(crashkernel=\S+)/.exec(cmdline)?.[1];
        checks.push({
          id: 'dumps.crashkernel-live',
          status: ck ? 'fail' : 'pass',
          evidence: ck ? `${ck} on the running kernel's command line (reboot after update-grub)` : 'no crashkernel= on the kernel command line',
        });
        const loaded = (await readOr('/sys/kernel/kexec_crash_loaded'))?.trim();
        checks.push({
          id: 'dumps.kexec-crash-loaded',
          status: loaded === '1' ? 'fail' : loaded === undefined ? 'n/a' : 'pass',
          evidence: loaded === undefined ? 'no /sys/kernel/kexec_crash_loaded' : `kexec_crash_loaded ${loaded}`,
        });
      }
      return checks;
    },
  };
}

export const provider = hardeningAudit();
