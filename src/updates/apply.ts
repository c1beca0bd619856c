import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { UpdatesConfig, PackagesConfig } from './schema.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { run, type ExecResult } from '../util/exec.js';
import { renderUpdates } from './render.js';
import { parseSourcesDump, planSources, READ_SOURCES_SCRIPT, SOURCES_DIR, SOURCES_LIST, type DistroInfo, type SourceFile } from './sources.js';

/**
 * Where the updates capability acts: the node's own files (the agent; a temp root in tests) or a node over
 * SSH (bootstrap, before the runtime is there). Paths are absolute on the node.
 */
export interface UpdatesHost {
  readSources(): Promise<SourceFile[]>;
  read(path: string): Promise<string | undefined>;
  /** Writes when the content differs; true when it wrote. */
  write(path: string, content: string): Promise<boolean>;
  remove(path: string): Promise<void>;
  exec(argv: string[]): Promise<ExecResult>;
}

/** os-release → the distro's id and codename. Pure. */
export function distroFromOsRelease(text: string): DistroInfo {
  const v = (k: string) => new RegExp(`^${k}=("?)([^"\\n]*)\\1$`, 'm').exec(text)?.[2] ?? '';
  const id = v('ID');
  let codename = v('VERSION_CODENAME') || v('UBUNTU_CODENAME');
  // Debian testing/sid leave VERSION_CODENAME empty; "trixie/sid" style in PRETTY_NAME
  if (!codename) codename = /\(([a-z]+)\)/.exec(v('VERSION'))?.[1] ?? '';
  return { id, codename };
}

export function localUpdatesHost(root = '/'): UpdatesHost {
  const p = (f: string) => join(root, f);
  const read = async (f: string) => {
    try {
      return await readFile(p(f), 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    async readSources() {
      const out: SourceFile[] = [];
      const list = await read(SOURCES_LIST);
      if (list !== undefined) out.push({ path: SOURCES_LIST, text: list });
      let names: string[] = [];
      try {
        names = (await readdir(p(SOURCES_DIR))).filter((n) => n.endsWith('.list') || n.endsWith('.sources')).sort();
      } catch {
        names = [];
      }
      for (const n of names) {
        const text = await read(`${SOURCES_DIR}/${n}`);
        if (text !== undefined) out.push({ path: `${SOURCES_DIR}/${n}`, text });
      }
      return out;
    },
    read,
    async write(f, content) {
      if ((await read(f)) === content) return false;
      await mkdir(dirname(p(f)), { recursive: true });
      writeFileAtomic(p(f), content, { mode: 0o644 });
      return true;
    },
    async remove(f) {
      await rm(p(f), { force: true });
    },
    exec: (argv) => run(argv, { timeoutMs: 30_000 }),
  };
}

/** The shell a bootstrap step is handed (an SSH session to the node, as root). */
export interface Shell {
  exec(command: string, stdin?: string): Promise<ExecResult>;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function remoteUpdatesHost(sh: Shell): UpdatesHost {
  const ok = async (cmd: string, stdin?: string) => {
    const r = await sh.exec(cmd, stdin);
    if (r.code !== 0) throw new Error(`${cmd.split(' ')[0]} on the node exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  };
  return {
    async readSources() {
      return parseSourcesDump((await ok(READ_SOURCES_SCRIPT)).stdout);
    },
    async read(f) {
      const r = await sh.exec(`cat ${q(f)}`);
      return r.code === 0 ? r.stdout : undefined;
    },
    async write(f, content) {
      const r = await ok(
        `set -e; f=${q(f)}; t="$f.bulwark-new"; mkdir -p "$(dirname "$f")"; cat > "$t"; if [ -f "$f" ] && cmp -s "$t" "$f"; then rm -f "$t"; echo same; else chmod 0644 "$t"; mv -f "$t" "$f"; echo changed; fi`,
        content,
      );
      return r.stdout.trim() === 'changed';
    },
    async remove(f) {
      await ok(`rm -f ${q(f)}`);
    },
    exec: (argv) => sh.exec(argv.map(q).join(' ')),
  };
}

export interface SourcesResult {
  changed: string[];
  summary: string;
  notes: string[];
}

/** Brings the node's apt sources to the plan for `packages` (see sources.ts). */
export async function applySources(host: UpdatesHost, distro: DistroInfo, pkgs: PackagesConfig): Promise<SourcesResult> {
  const plan = planSources(await host.readSources(), distro, pkgs);
  const changed: string[] = [];
  for (const w of plan.writes) if (await host.write(w.path, w.text)) changed.push(w.path);
  for (const r of plan.removes) {
    await host.remove(r);
    changed.push(`${r} (removed)`);
  }
  return { changed, summary: plan.summary, notes: plan.notes };
}

/** Writes the unattended-upgrades and needrestart files for `updates`; returns those it wrote. */
export async function applyUpdatesConfig(host: UpdatesHost, distro: DistroInfo, cfg: UpdatesConfig): Promise<string[]> {
  const changed: string[] = [];
  for (const f of renderUpdates(cfg, distro)) if (await host.write(f.path, f.content)) changed.push(f.path);
  return changed;
}
