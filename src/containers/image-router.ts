import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runOk } from '../util/exec.js';
import { renderEnvFile, writeIfChanged } from '../systemd/units.js';
import { ROUTER_COMMAND } from './unit-params.js';
import { importArgv, podmanOk, type PodmanEnv } from './podman.js';

/**
 * The router image, built on the node from the runtime Bulwark shipped (/usr/lib/bulwark: the node
 * binary and the bundle): a rootfs holding only node, the bundle, the shared libraries node links
 * against (from ldd), and an /etc/passwd with the non-root router user. No registry, no distro image:
 * works on an air-gapped node. The image id is recorded in /var/lib/bulwark/images.json and handed to
 * bulwark-router.service through /etc/bulwark/router.env.
 */
export interface RouterImageSpec {
  runtimeDir: string;
  /** Files/folders of the runtime copied into the image (relative to runtimeDir). */
  include: readonly string[];
  /** Script node runs (relative to runtimeDir). */
  entry: string;
  uid: number;
  tag: string;
}

export const DEFAULT_RUNTIME_DIR = '/usr/lib/bulwark';
export const IMAGES_JSON = '/var/lib/bulwark/images.json';
export const ROUTER_ENV = '/etc/bulwark/router.env';

export function defaultRouterImageSpec(uid: number, version: string, runtimeDir = DEFAULT_RUNTIME_DIR): RouterImageSpec {
  const include = ['node', 'bulwark.mjs', 'chunks', 'VERSION', 'units', 'provisioning', 'firewall'].filter((f) => existsSync(join(runtimeDir, f)));
  return { runtimeDir, include, entry: 'bulwark.mjs', uid, tag: version };
}

/** Library paths from `ldd` output (the vdso has none and is skipped). Pure. */
export function parseLdd(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const p = arrow?.[1] ?? bare?.[1];
    if (p) out.add(p);
  }
  return [...out].sort();
}

/** /etc/passwd and /etc/group of the image: root (owns the files) and the router user. Pure. */
export function imageAccounts(uid: number, name = 'bulwark-router'): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n${name}:x:${uid}:${uid}:Bulwark router:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\n${name}:x:${uid}:\n`,
  };
}

/** Paths, sizes and mtimes of everything that goes into the image, plus uid and tag. */
export function inputsFingerprint(spec: RouterImageSpec): string {
  const h = createHash('sha256').update(`${spec.uid}\0${spec.tag}\0${spec.entry}\0`);
  const walk = (p: string) => {
    const st = statSync(p);
    h.update(`${p}\0${st.size}\0${st.mtimeMs}\0`);
    if (st.isDirectory()) for (const f of readdirSync(p).sort()) walk(join(p, f));
  };
  for (const f of spec.include) walk(join(spec.runtimeDir, f));
  return h.digest('hex');
}

/**
 * SHA-256 of a file by `sha256sum` in a child process: the tar is ~100 MB, and streaming it through the
 * long-running agent left tens of MB of allocator arena behind in its RSS.
 */
async function sha256File(path: string): Promise<string> {
  const r = await runOk(['sha256sum', '--', path]);
  const hex = r.stdout.split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`sha256sum ${path}: unexpected output ${r.stdout.slice(0, 80)}`);
  return hex;
}

export interface ImageRecord {
  ref: string;
  id: string;
  /** Cheap identity of the inputs (paths, sizes, mtimes, uid, tag): unchanged → no rebuild, no staging. */
  inputs?: string;
  /** SHA-256 of the rootfs tar the image was imported from (reproducible: same runtime, same digest). */
  rootfsSha256: string;
  builtAt: string;
}

/** Stages the rootfs and writes a reproducible tar (sorted, mtime 0, uid 0, modes independent of the umask: the
 * agent runs with UMask=0077, and the router's own uid must read and run everything here). Returns the tar path. */
export async function stageRouterRootfs(spec: RouterImageSpec, workDir: string): Promise<string> {
  const root = join(workDir, 'rootfs');
  mkdirSync(root, { recursive: true });
  const rt = join(root, spec.runtimeDir.replace(/^\/+/, ''));
  mkdirSync(rt, { recursive: true });
  for (const f of spec.include) cpSync(join(spec.runtimeDir, f), join(rt, f), { recursive: true, dereference: true });
  const ldd = await runOk(['ldd', join(spec.runtimeDir, 'node')]);
  for (const lib of parseLdd(ldd.stdout)) {
    // Keep the path node asks for (e.g. /lib64/ld-linux-x86-64.so.2) but store a real file, not a link.
    const dest = join(root, lib.replace(/^\/+/, ''));
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(lib, dest);
  }
  const acc = imageAccounts(spec.uid);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), acc.passwd);
  writeFileSync(join(root, 'etc/group'), acc.group);
  // Mount points the router container uses (the root is read-only at run time).
  for (const d of ['tmp', 'run/bulwark/components', 'etc/bulwark', 'var/lib/bulwark/router', 'var/lib/bulwark/principals', 'var/lib/bulwark/enrolments', 'proc', 'sys', 'dev'])
    mkdirSync(join(root, d), { recursive: true });
  const tar = join(workDir, 'rootfs.tar');
  await runOk(['tar', '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--mode=go-w,a+rX', '-C', root, '-cf', tar, '.']);
  return tar;
}

/**
 * Builds the router image unless the recorded one came from the same rootfs and still exists.
 * Writes images.json and router.env. Returns the record and whether anything changed.
 */
export async function ensureRouterImage(spec: RouterImageSpec, opts: { env?: PodmanEnv; imagesJson?: string; routerEnv?: string } = {}): Promise<{ record: ImageRecord; changed: boolean }> {
  const imagesJson = opts.imagesJson ?? IMAGES_JSON;
  const routerEnv = opts.routerEnv ?? ROUTER_ENV;
  const inputs = inputsFingerprint(spec);
  const known: Record<string, ImageRecord> = existsSync(imagesJson) ? (JSON.parse(readFileSync(imagesJson, 'utf8')) as Record<string, ImageRecord>) : {};
  const envFor = (r: ImageRecord) =>
    renderEnvFile({ BULWARK_ROUTER_IMAGE: r.id, BULWARK_ROUTER_USER: `${spec.uid}:${spec.uid}` }, `Written by bulwark: the router image built on this node from ${spec.runtimeDir} (${r.ref}).`);
  if (
    known.router?.inputs === inputs &&
    existsSync(routerEnv) &&
    readFileSync(routerEnv, 'utf8') === envFor(known.router) &&
    (await podmanOk(['image', 'exists', known.router.id], opts.env).then(
      () => true,
      () => false,
    ))
  ) {
    return { record: known.router, changed: false };
  }
  const work = mkdtempSync(join(tmpdir(), 'bulwark-router-image-'));
  try {
    const tar = await stageRouterRootfs(spec, work);
    const sha = await sha256File(tar);
    const images: Record<string, ImageRecord> = existsSync(imagesJson) ? (JSON.parse(readFileSync(imagesJson, 'utf8')) as Record<string, ImageRecord>) : {};
    const prev = images.router;
    let record: ImageRecord;
    let changed = false;
    const exists = prev
      ? await podmanOk(['image', 'exists', prev.id], opts.env).then(
          () => true,
          () => false,
        )
      : false;
    if (prev && prev.rootfsSha256 === sha && exists) {
      record = { ...prev, inputs };
      if (prev.inputs !== inputs) {
        images.router = record;
        writeIfChanged(imagesJson, JSON.stringify(images, null, 2) + '\n', 0o644);
      }
    } else {
      const ref = `localhost/bulwark-router:${spec.tag}-${sha.slice(0, 12)}`;
      const entry = [join(spec.runtimeDir, 'node'), join(spec.runtimeDir, spec.entry)];
      await podmanOk(importArgv(tar, ref, { entrypoint: entry, cmd: [...ROUTER_COMMAND], user: `${spec.uid}:${spec.uid}`, workdir: '/tmp', env: { NODE_ENV: 'production' } }), opts.env, 300_000);
      const id = (await podmanOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts.env)).stdout.trim();
      record = { ref, id, inputs, rootfsSha256: sha, builtAt: new Date().toISOString() };
      images.router = record;
      writeIfChanged(imagesJson, JSON.stringify(images, null, 2) + '\n', 0o644);
      changed = true;
    }
    changed = writeIfChanged(routerEnv, envFor(record), 0o644) || changed;
    return { record, changed };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
