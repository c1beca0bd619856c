import type { AddRequest } from './apps.js';
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT, type CliContext, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import type { Config, NodeSpec } from '../config/schema.js';
import { combineExits } from '../remote/act.js';
import { onNode, selectNodes } from '../remote/select.js';
import { Systemctl } from '../systemd/systemctl.js';
import { addAppLocal, appLogsArgv, listAppsLocal, NODE_PATHS, removeAppLocal, type AppDeps, type AppStatus } from './apps.js';
import { appNameSchema, memorySchema } from './schema.js';
import { readAppSpec } from './state.js';

const HELP = `Usage: bulwark app add NAME (--image REF | --image-archive FILE) [--realm R] [--role ROLE]
                       [--memory M] [--cpus N] [--pids N] [--node N]... [--all]
       bulwark app remove NAME [--node N]... [--all]
       bulwark app list [--node N]... [--all] [--json]
       bulwark app logs NAME [--lines N] [--follow] [--node N]

An app is a container run by bulwark-app@NAME.service (bulwark-app-docker@NAME.service when
apps.runtime is docker): no network, read-only root, no capabilities, no-new-privileges, its own
non-root uid, memory/CPU/pids limits, logs in the journal, and one volume: its socket directory
/run/bulwark/components/NAME/ (seen inside as /run/wamp/router.sock), where the router maps the
connection to authid NAME with ROLE on realm R. Adding or removing an app reloads the router, so
the other apps keep their sessions.

--image REF uses an image already on the node; --image-archive FILE (podman/docker save format)
is uploaded to each node and loaded there (no registry needed). The image id is pinned in the unit.

On a node the command acts locally; on the operator's machine it runs on the given nodes (default:
all) over SSH.

Exit codes: 0 ok, 1 an app is not active, 2 usage or config error, 3 a node failed.`;

const OPTIONS = {
  image: { type: 'string' },
  'image-archive': { type: 'string' },
  realm: { type: 'string' },
  role: { type: 'string' },
  memory: { type: 'string' },
  cpus: { type: 'string' },
  pids: { type: 'string' },
  node: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  lines: { type: 'string' },
  follow: { type: 'boolean' },
} as const;

/** The command line, parsed: an app request (every field optional until the verb says) plus targets. */
export interface ParsedAppArgs extends Partial<AddRequest> {
  sub: 'add' | 'remove' | 'list' | 'logs';
  nodes: string[];
  all: boolean;
  lines?: number;
  follow: boolean;
}

function num(flag: string, v: string | undefined, int: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n))) throw new UsageError(`--${flag} must be a positive ${int ? 'integer' : 'number'}`);
  return n;
}

/** Parses and checks `bulwark app` arguments. Pure (throws UsageError). */
export function parseAppArgs(args: string[]): ParsedAppArgs {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  const [sub, name, ...extra] = positionals;
  if (sub !== 'add' && sub !== 'remove' && sub !== 'list' && sub !== 'logs') throw new UsageError(`expected add, remove, list or logs${sub ? `, not "${sub}"` : ''}`);
  if (extra.length) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (sub === 'list' && name !== undefined) throw new UsageError('app list takes no name');
  if (sub !== 'list') {
    if (name === undefined) throw new UsageError(`app ${sub} needs NAME`);
    const ok = appNameSchema.safeParse(name);
    if (!ok.success) throw new UsageError(`app name "${name}" ${ok.error.issues[0]?.message ?? 'is invalid'}`);
  }
  const p: ParsedAppArgs = {
    sub,
    name,
    image: values.image,
    imageArchive: values['image-archive'],
    realm: values.realm,
    role: values.role,
    memory: values.memory,
    cpus: num('cpus', values.cpus, false),
    pids: num('pids', values.pids, true),
    nodes: values.node ?? [],
    all: values.all ?? false,
    lines: num('lines', values.lines, true),
    follow: values.follow ?? false,
  };
  const addOnly = ['image', 'image-archive', 'realm', 'role', 'memory', 'cpus', 'pids'] as const;
  if (sub !== 'add') for (const k of addOnly) if (values[k] !== undefined) throw new UsageError(`--${k} is only for app add`);
  if (sub !== 'logs' && (values.lines !== undefined || values.follow)) throw new UsageError('--lines/--follow are only for app logs');
  if (sub === 'add' && (p.image === undefined) === (p.imageArchive === undefined)) throw new UsageError('give exactly one of --image REF or --image-archive FILE');
  if (p.memory !== undefined && !memorySchema.safeParse(p.memory).success) throw new UsageError('--memory must be a size like 256m or 1g');
  if (p.all && p.nodes.length) throw new UsageError('give --node or --all, not both');
  if (sub === 'logs' && (p.all || p.nodes.length > 1)) throw new UsageError('app logs reads one node: give at most one --node');
  return p;
}

/** The argv a node runs for the operator's request (archive path replaced by its uploaded copy). Pure. */
export function nodeArgv(p: ParsedAppArgs, remoteArchive?: string): string[] {
  const a = ['app', p.sub, ...(p.name ? [p.name] : [])];
  const opt = (k: string, v: string | number | undefined) => (v === undefined ? [] : [`--${k}`, String(v)]);
  a.push(...opt('image', p.image), ...opt('image-archive', p.imageArchive ? (remoteArchive ?? p.imageArchive) : undefined), ...opt('realm', p.realm), ...opt('role', p.role));
  a.push(...opt('memory', p.memory), ...opt('cpus', p.cpus), ...opt('pids', p.pids), ...opt('lines', p.lines));
  if (p.sub !== 'logs') a.push('--json');
  return a;
}

export const REMOTE_ARCHIVE_DIR = '/var/cache/bulwark/images';

function printStatus(ctx: CliContext, rows: AppStatus[], node?: string): void {
  if (rows.length === 0) {
    ctx.out.write(`${node ? `${node}: ` : ''}no apps\n`);
    return;
  }
  for (const r of rows)
    ctx.out.write(`${node ? `${node}  ` : ''}${r.name.padEnd(16)} ${`${r.active}/${r.sub}`.padEnd(18)} uid ${r.uid}  ${r.realm}/${r.role}  image ${r.image}  restarts ${r.restarts}\n`);
}

async function loadAppsConfig(ctx: CliContext): Promise<Config> {
  const { loadConfig } = await import('../config/index.js');
  return loadConfig(ctx.configPath);
}

async function runLocal(ctx: CliContext, p: ParsedAppArgs, cfg: Config): Promise<number> {
  const deps: AppDeps = { systemctl: new Systemctl(), log: ctx.log, paths: NODE_PATHS };
  if (p.sub === 'add') {
    const r = await addAppLocal({ name: p.name ?? '', image: p.image, imageArchive: p.imageArchive, realm: p.realm, role: p.role, memory: p.memory, cpus: p.cpus, pids: p.pids }, cfg.apps, deps);
    if (ctx.json) ctx.out.write(JSON.stringify(r) + '\n');
    else ctx.out.write(`${r.app.name}: ${r.unit} ${r.state} (uid ${r.app.uid}, image ${r.app.image.slice(0, 12)})${r.notes.length ? `; ${r.notes.join('; ')}` : ''}\n`);
    return r.state.startsWith('active') ? EXIT.OK : EXIT.CHECK_FAILED;
  }
  if (p.sub === 'remove') {
    const r = await removeAppLocal(p.name ?? '', cfg.apps, deps);
    if (!r) {
      ctx.err.write(`no app "${p.name}" on this node\n`);
      return EXIT.USAGE;
    }
    if (ctx.json) ctx.out.write(JSON.stringify(r) + '\n');
    else ctx.out.write(`${r.app.name}: removed${r.notes.length ? `; ${r.notes.join('; ')}` : ''}\n`);
    return EXIT.OK;
  }
  if (p.sub === 'list') {
    const rows = await listAppsLocal(deps);
    if (ctx.json) ctx.out.write(JSON.stringify(rows) + '\n');
    else printStatus(ctx, rows);
    return rows.every((r) => r.active === 'active') ? EXIT.OK : EXIT.CHECK_FAILED;
  }
  const spec = readAppSpec(p.name ?? '');
  if (!spec) {
    ctx.err.write(`no app "${p.name}" on this node\n`);
    return EXIT.USAGE;
  }
  const [cmd, ...args] = appLogsArgv(spec, { lines: p.lines, follow: p.follow });
  return new Promise((resolve) => {
    const child = spawn(cmd ?? 'journalctl', args, { stdio: 'inherit' });
    child.on('error', () => resolve(EXIT.CHECK_FAILED));
    child.on('close', (code) => resolve(code === 0 ? EXIT.OK : EXIT.CHECK_FAILED));
  });
}

async function runRemote(ctx: CliContext, p: ParsedAppArgs, cfg: Config, targets: NodeSpec[]): Promise<number> {
  const { runOnNodes } = await import('../remote/fanout.js');
  let remoteArchive: string | undefined;
  if (p.imageArchive) {
    remoteArchive = `${REMOTE_ARCHIVE_DIR}/${basename(p.imageArchive)}`;
    const { NodeSession } = await import('../remote/ssh.js');
    const { knownHostsPath } = await import('../config/locate.js');
    const failed = await Promise.all(
      targets.map(async (n) => {
        let s: Awaited<ReturnType<typeof NodeSession.connect>> | undefined;
        try {
          s = await NodeSession.connect(n, cfg, knownHostsPath(ctx.configPath));
          await s.execOk(`mkdir -p ${REMOTE_ARCHIVE_DIR} && chmod 0700 ${REMOTE_ARCHIVE_DIR}`);
          await s.upload(p.imageArchive ?? '', remoteArchive ?? '');
          return undefined;
        } catch (e) {
          return `${n.name}: upload failed: ${e instanceof Error ? e.message : String(e)}`;
        } finally {
          s?.close();
        }
      }),
    );
    const errs = failed.filter((x): x is string => x !== undefined);
    if (errs.length) {
      for (const e of errs) ctx.err.write(e + '\n');
      return EXIT.NODE_FAILED;
    }
  }
  const results = await runOnNodes(ctx, cfg, targets, nodeArgv(p, remoteArchive));
  const out: Record<string, unknown> = {};
  for (const r of results) {
    if (p.sub === 'logs') {
      ctx.out.write(r.stdout);
      if (r.stderr) ctx.err.write(r.stderr);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');
    } catch {
      parsed = undefined;
    }
    out[r.node] = parsed ?? { code: r.code, error: (r.stderr || r.stdout).trim() };
    if (ctx.json) continue;
    if (p.sub === 'list' && Array.isArray(parsed)) printStatus(ctx, parsed as AppStatus[], r.node);
    else if (parsed && typeof parsed === 'object' && 'unit' in parsed) {
      const x = parsed as { unit: string; state: string; notes?: string[] };
      ctx.out.write(`${r.node}: ${x.unit} ${x.state}${x.notes?.length ? `; ${x.notes.join('; ')}` : ''}\n`);
    } else ctx.out.write(`${r.node}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}\n`);
  }
  if (ctx.json && p.sub !== 'logs') ctx.out.write(JSON.stringify(out) + '\n');
  return combineExits(results.map((r) => r.code));
}

export const command: Command = {
  name: 'app',
  summary: 'add, remove, list app containers and read their logs',
  help: HELP,
  async run(ctx, args) {
    const p = parseAppArgs(args);
    const cfg = await loadAppsConfig(ctx); // a ConfigError is printed by main (exit 2)
    const where = selectNodes(() => cfg, { names: p.nodes, all: p.all }, onNode(), 'all');
    return 'local' in where ? runLocal(ctx, p, cfg) : runRemote(ctx, p, cfg, where.nodes);
  },
};
