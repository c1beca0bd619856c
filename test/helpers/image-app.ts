import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importArgv, podmanBase, type PodmanEnv } from '../../src/containers/podman.js';
import { runOk } from '../../src/util/exec.js';

/**
 * Test and bench helper. Builds an app image without a registry: a Debian rootfs (debootstrap minbase) with the packages the
 * component needs plus the component's files, imported into podman and saved as an archive that
 * `bulwark app add --image-archive` uploads. Both the rootfs and the archive are cached under `cacheDir`,
 * keyed by what goes into them, so a second run costs nothing.
 */
export interface AppImageSpec {
  /** Image name without tag, e.g. "localhost/bulwark-echo". */
  name: string;
  suite: string;
  mirror: string;
  packages: readonly string[];
  /** Files copied into `installDir` in the image (absolute paths on this host). */
  files: readonly string[];
  installDir: string;
  cmd: readonly string[];
  /** Numeric user the image runs as by default (the unit sets --user anyway). */
  user: string;
  /** Paths (tar members, "./usr/share/doc") dropped from the rootfs: every MB is copied on container create with vfs storage. */
  prune: readonly string[];
  cacheDir: string;
}

export const DEFAULT_CACHE_DIR = '/var/cache/bulwark/images';

/** The echo component used by the container tests and the lab's system test. */
export function echoAppSpec(fixtureDir: string, cacheDir = DEFAULT_CACHE_DIR): AppImageSpec {
  return {
    name: 'localhost/bulwark-echo',
    suite: 'bookworm',
    mirror: 'http://deb.debian.org/debian',
    // python3-ply is named because debootstrap's resolver does not follow the virtual python3-ply-lex-3.10
    packages: ['python3-autobahn', 'python3-cbor2', 'python3-ply'],
    files: readdirSync(fixtureDir)
      .filter((f) => f.endsWith('.py'))
      .map((f) => join(fixtureDir, f)),
    installDir: '/opt/component',
    cmd: ['/usr/bin/python3', '-u', '/opt/component/echo.py'],
    user: '65534:65534',
    // Docs, translations, the twisted backend and Cython are never used by an asyncio component.
    prune: ['./usr/share/doc', './usr/share/man', './usr/share/locale', './usr/share/info', './usr/lib/python3/dist-packages/twisted', './usr/lib/python3/dist-packages/Cython', './var/cache/debconf'],
    cacheDir,
  };
}

/** Cache keys: the rootfs depends on suite, mirror and packages; the archive also on files and cmd. */
export function appImageKeys(spec: AppImageSpec, fileContents: readonly Buffer[]): { rootfs: string; image: string } {
  const h = (parts: readonly (string | Buffer)[]) => {
    const hash = createHash('sha256');
    for (const p of parts) hash.update(typeof p === 'string' ? p : p).update('\0');
    return hash.digest('hex').slice(0, 16);
  };
  const rootfs = h([spec.suite, spec.mirror, ...[...spec.packages].sort()]);
  const image = h([rootfs, spec.installDir, JSON.stringify(spec.cmd), spec.user, JSON.stringify(spec.prune), ...spec.files.map((f) => f.split('/').pop() ?? f), ...fileContents]);
  return { rootfs, image };
}

async function buildRootfsTar(spec: AppImageSpec, key: string): Promise<string> {
  const tar = join(spec.cacheDir, `rootfs-${spec.suite}-${key}.tar`);
  if (existsSync(tar)) return tar;
  const dir = join(spec.cacheDir, `rootfs-${spec.suite}-${key}.d`);
  rmSync(dir, { recursive: true, force: true });
  await runOk(['debootstrap', '--variant=minbase', `--include=${spec.packages.join(',')}`, spec.suite, dir, spec.mirror], { timeoutMs: 900_000 });
  // Nothing the container needs: package caches and lists.
  for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    const p = join(dir, sub);
    for (const f of existsSync(p) ? readdirSync(p) : []) if (f !== 'partial' && f !== 'lock') rmSync(join(p, f), { recursive: true, force: true });
  }
  await runOk(['tar', '--numeric-owner', '-C', dir, '-cf', `${tar}.part`, '.']);
  renameSync(`${tar}.part`, tar);
  rmSync(dir, { recursive: true, force: true });
  return tar;
}

export interface BuiltAppImage {
  ref: string;
  archive: string;
}

/**
 * One builder at a time per cache (parallel test files share it): a lock directory, taken over when
 * its builder has died (pid recorded inside) or it is older than `staleMs`.
 */
async function withCacheLock<T>(cacheDir: string, fn: () => Promise<T>, staleMs = 20 * 60_000): Promise<T> {
  const lock = join(cacheDir, '.build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      try {
        const pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
        const alive = (() => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        })();
        if (!alive || Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds (or finds in the cache) the app image archive; `env` selects podman's config and storage. */
export async function buildAppImageArchive(spec: AppImageSpec, env: PodmanEnv = {}): Promise<BuiltAppImage> {
  mkdirSync(spec.cacheDir, { recursive: true });
  return withCacheLock(spec.cacheDir, () => buildLocked(spec, env));
}

async function buildLocked(spec: AppImageSpec, env: PodmanEnv): Promise<BuiltAppImage> {
  const contents = spec.files.map((f) => readFileSync(f));
  const keys = appImageKeys(spec, contents);
  const ref = `${spec.name}:${keys.image}`;
  const archive = join(spec.cacheDir, `${spec.name.split('/').pop() ?? 'app'}-${keys.image}.tar`);
  if (existsSync(archive)) return { ref, archive };
  const rootfsTar = await buildRootfsTar(spec, keys.rootfs);
  const work = join(spec.cacheDir, `work-${keys.image}`);
  rmSync(work, { recursive: true, force: true });
  const stage = join(work, spec.installDir.replace(/^\/+/, ''));
  mkdirSync(stage, { recursive: true });
  spec.files.forEach((f, i) => writeFileSync(join(stage, f.split('/').pop() ?? `file${i}`), contents[i] ?? ''));
  const appTar = join(work, 'rootfs.tar');
  await runOk(['cp', rootfsTar, appTar]);
  if (spec.prune.length) await runOk(['tar', '--delete', '-f', appTar, ...spec.prune], { timeoutMs: 300_000 });
  // Append the component's files, owned by root and world-readable.
  await runOk(['tar', '--owner=0', '--group=0', '--mode=a+rX,go-w', '-C', work, '-rf', appTar, spec.installDir.replace(/^\/+/, '')]);
  const base = podmanBase(env);
  await runOk([...base.argv, ...importArgv(appTar, ref, { cmd: spec.cmd, user: spec.user, workdir: spec.installDir })], { env: base.env, timeoutMs: 300_000 });
  await runOk([...base.argv, 'save', '--format', 'docker-archive', '-o', `${archive}.part`, ref], { env: base.env, timeoutMs: 300_000 });
  renameSync(`${archive}.part`, archive);
  rmSync(work, { recursive: true, force: true });
  // Older archives of the same image are stale now.
  const prefix = `${spec.name.split('/').pop() ?? 'app'}-`;
  for (const f of readdirSync(spec.cacheDir)) if (f.startsWith(prefix) && f.endsWith('.tar') && join(spec.cacheDir, f) !== archive) rmSync(join(spec.cacheDir, f), { force: true });
  return { ref, archive };
}
