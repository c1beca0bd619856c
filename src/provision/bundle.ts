import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from '../util/exec.js';
import { parseFacts, type NodeFacts } from './preflight.js';

export const BUNDLE_CACHE = '/var/cache/bulwark/bundles';

/** A .deb file name with nothing apt or a shell could read as special. Pure. */
export function safeDebName(file: string): string {
  return file.replace(/%3a/gi, '_').replace(/[^A-Za-z0-9._+-]/g, '_');
}

/** This machine's distro, to check that a bundle built here fits the node. */
export function localDistro(): { id: string; version: string } {
  const f = parseFacts(
    readFileSync('/etc/os-release', 'utf8')
      .split('\n')
      .map((l) =>
        l
          .replace(/^ID=/, 'id=')
          .replace(/^VERSION_ID=/, 'version=')
          .replace(/"/g, ''),
      )
      .join('\n'),
  );
  return { id: f.id, version: f.version };
}

export interface Bundle {
  dir: string;
  debs: string[];
  /** A tar of the .deb files, made once per bundle. */
  tarPath: string;
}

const inFlight = new Map<string, Promise<Bundle>>();

/**
 * Downloads exactly the .debs a node lacks for `packages`, computed against the node's own dpkg status,
 * from this machine's apt sources. Nodes with the same status share one bundle (cached on disk).
 */
export function bundleFor(node: NodeFacts, dpkgStatus: string, packages: string[]): Promise<Bundle> {
  const here = localDistro();
  if (here.id !== node.id || here.version !== node.version) {
    return Promise.reject(
      new Error(`an offline bundle for ${node.id} ${node.version} must be built on a machine of the same release (this one is ${here.id} ${here.version}); or set packages: apt for this node`),
    );
  }
  const key = createHash('sha256').update('bundle-v2\0').update(dpkgStatus).update('\0').update(packages.join(' ')).digest('hex').slice(0, 16);
  let p = inFlight.get(key);
  if (!p) {
    p = makeBundle(join(BUNDLE_CACHE, `${node.id}-${node.version}-${key}`), dpkgStatus, packages);
    inFlight.set(key, p);
    p.catch(() => inFlight.delete(key));
  }
  return p;
}

async function makeBundle(dir: string, dpkgStatus: string, packages: string[]): Promise<Bundle> {
  const tarPath = join(dir, 'bundle.tar');
  const done = join(dir, '.complete');
  if (!existsSync(done)) {
    mkdirSync(join(dir, 'archives', 'partial'), { recursive: true });
    writeFileSync(join(dir, 'status'), dpkgStatus);
    const apt = (extra: string[]) =>
      run(
        [
          'apt-get',
          '-o',
          `Dir::State::status=${join(dir, 'status')}`,
          '-o',
          `Dir::Cache::archives=${join(dir, 'archives')}/`,
          '-o',
          'Debug::NoLocking=1',
          '-o',
          'APT::Install-Recommends=false',
          ...extra,
        ],
        { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 10 * 60_000 },
      );
    let r = await apt(['install', '--download-only', '-y', ...packages]);
    if (r.code !== 0 && /Unable to locate|has no installation candidate/.test(r.stderr)) {
      await runOk(['apt-get', 'update', '-qq'], { timeoutMs: 5 * 60_000 });
      r = await apt(['install', '--download-only', '-y', ...packages]);
    }
    if (r.code !== 0) throw new Error(`building the package bundle failed: ${r.stderr.trim().slice(-600)}`);
    // apt stores an epoch's colon as "%3a" in file names, and `apt-get install ./FILE` would URL-decode it:
    // ship the files under plain names (apt reads the package's identity from the file itself).
    const safe = join(dir, 'safe');
    mkdirSync(safe, { recursive: true });
    const debs: string[] = [];
    for (const f of readdirSync(join(dir, 'archives')).filter((x) => x.endsWith('.deb'))) {
      const name = safeDebName(f);
      if (!existsSync(join(safe, name))) linkSync(join(dir, 'archives', f), join(safe, name));
      debs.push(name);
    }
    await runOk(['tar', '-C', safe, '-cf', tarPath, ...debs]);
    writeFileSync(done, debs.join('\n') + '\n');
  }
  const debs = readFileSync(done, 'utf8').split('\n').filter(Boolean);
  return { dir, debs, tarPath };
}
