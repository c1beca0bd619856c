import type { Distro, Distros } from '../config/distros.js';

/** The shell snippet that collects facts on a node (run as root), one key=value per line. */
export const FACTS_SCRIPT = [
  '. /etc/os-release 2>/dev/null',
  'echo "id=${ID:-unknown}"',
  'echo "version=${VERSION_ID:-unknown}"',
  'echo "pretty=${PRETTY_NAME:-unknown}"',
  'echo "pid1=$(cat /proc/1/comm 2>/dev/null)"',
  'echo "uid=$(id -u)"',
  'echo "arch=$(uname -m)"',
  `echo "free_mib=$(df -Pm / | awk 'NR==2{print $4}')"`,
].join('; ');

export interface NodeFacts {
  id: string;
  version: string;
  pretty: string;
  pid1: string;
  uid: number;
  arch: string;
  freeMiB: number;
}

export function parseFacts(text: string): NodeFacts {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return {
    id: kv.get('id') ?? 'unknown',
    version: kv.get('version') ?? 'unknown',
    pretty: kv.get('pretty') ?? 'unknown',
    pid1: kv.get('pid1') ?? '',
    uid: Number(kv.get('uid') ?? NaN),
    arch: kv.get('arch') ?? '',
    freeMiB: Number(kv.get('free_mib') ?? NaN),
  };
}

export interface PreflightResult {
  ok: boolean;
  problems: string[];
  distro?: Distro;
  /** Node's architecture in Node.js terms (x64, arm64). */
  arch?: string;
}

/** Decides whether a node can be bootstrapped. Pure. */
export function evaluatePreflight(f: NodeFacts, distros: Distros, minFreeMiB: number): PreflightResult {
  const problems: string[] = [];
  const distro = distros.supported.find((d) => d.id === f.id && d.version === f.version);
  if (!distro) {
    const list = distros.supported.map((d) => `${d.id} ${d.version}`).join(', ');
    problems.push(`unsupported distribution "${f.pretty}" (${f.id} ${f.version}); supported: ${list}`);
  }
  if (f.pid1 !== 'systemd') problems.push(`PID 1 is "${f.pid1 || 'unknown'}", not systemd`);
  if (f.uid !== 0) problems.push('not root: log in as root or give the SSH user passwordless sudo');
  const arch = distros.architectures[f.arch];
  if (!arch) problems.push(`unsupported architecture ${f.arch || 'unknown'}`);
  if (!(f.freeMiB >= minFreeMiB)) problems.push(`only ${Number.isFinite(f.freeMiB) ? f.freeMiB : '?'} MiB free on /, need ${minFreeMiB} MiB`);
  return { ok: problems.length === 0, problems, distro, arch };
}
