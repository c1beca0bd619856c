import type { ManagedFile } from './render.js';
import { moduleKey, type ModulesConfig } from './system-schema.js';

/** Pure: the modprobe.d file that makes unneeded kernel modules impossible to load, and how to read the proof. */

export const MODPROBE_FILE = '/etc/modprobe.d/bulwark-disabled-modules.conf';

export function renderModprobe(cfg: ModulesConfig): ManagedFile[] {
  if (!cfg.enabled || cfg.disable.length === 0) return [];
  const lines = cfg.disable.flatMap((m) => [`install ${m} /bin/false`, `blacklist ${m}`]);
  const content = `# Managed by Bulwark (hardening.modules); changes are overwritten by the agent.\n# Each module: loading it runs /bin/false (so it fails), and it is never auto-loaded by alias.\n${lines.join('\n')}\n`;
  return [{ path: MODPROBE_FILE, content, mode: 0o644, mechanism: 'modules.file' }];
}

/**
 * One shell call that dry-runs `modprobe -n -v` for each module (`-C DIR` points modprobe at a scratch
 * root's modprobe.d in tests), each answer followed by a marker line with its exit code.
 */
export function modprobeProbeScript(modules: readonly string[], configDir?: string): string {
  const c = configDir ? `-C '${configDir.replace(/'/g, `'\\''`)}' ` : '';
  return modules.map((m) => `modprobe ${c}-n -v '${m}' 2>&1; echo "@@bulwark ${m} $?"`).join('\n');
}

export interface ModuleProbe {
  module: string;
  /** What `modprobe -n -v` said, trimmed. */
  output: string;
  /** True when modprobe would run `install /bin/false` instead of loading the module. */
  refused: boolean;
}

/** Parses the probe script's output. Pure. */
export function parseModprobeProbe(modules: readonly string[], stdout: string): Map<string, ModuleProbe> {
  const out = new Map<string, ModuleProbe>();
  let buf: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@bulwark (\S+) (\d+)$/.exec(line);
    if (!m) {
      buf.push(line);
      continue;
    }
    const output = buf.join('\n').trim();
    out.set(m[1]!, { module: m[1]!, output, refused: /^install \/bin\/false\s*$/m.test(output) });
    buf = [];
  }
  for (const m of modules) if (!out.has(m)) out.set(m, { module: m, output: 'no answer from modprobe', refused: false });
  return out;
}

/** Names of loaded modules from /proc/modules (undefined: the kernel has no loadable module support). Pure. */
export function loadedModules(procModules: string | undefined): Set<string> | undefined {
  if (procModules === undefined) return undefined;
  return new Set(
    procModules
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter(Boolean)
      .map(moduleKey),
  );
}
