import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadDistros, packagesFor } from '../config/distros.js';
import { run, runOk } from '../util/exec.js';
import { type LabDebian, rootfsRecipe } from './rootfs.js';
import type { LabPlan } from './topology.js';

/**
 * The lab's apt repository, on the outside network (namespace PREFIX-out, http://192.0.2.1/): what a
 * mirror is to a real server. Built by `lab up` from .debs this host downloads (exactly what a fresh lab
 * machine lacks for Bulwark's package list, computed against the cached rootfs's dpkg status) plus the lab's
 * canary package, indexed with dpkg-scanpackages, and signed with an OpenPGP key made for this lab in its
 * state directory (the config carries the public key: `provisioning.packages.signedBy`). Served by a static
 * HTTP server (`python3 -m http.server`). Two archives, as Debian has them (CODENAME is the lab's release,
 * bookworm or trixie):
 *   /debian           suites CODENAME (Origin Debian, Label Debian) and CODENAME-updates (empty)
 *   /debian-security  suite CODENAME-security (Origin Debian, Label Debian-Security): empty until a test
 *                     publishes an update there (publishToLabMirror)
 * A Debian 13 lab's mirror holds only the canary: this host is Debian 12, so it cannot download trixie's
 * .debs as the distro's own, and its machines come with Bulwark's packages installed (src/lab/rootfs.ts).
 * The Release fields are those of Debian's archives, so unattended-upgrades' security pattern picks the
 * security suite here exactly as it would on a real server.
 */
export interface LabMirror {
  dir: string;
  www: string;
  gnupg: string;
  url: string;
  securityUrl: string;
  codename: string;
  port: number;
}

export const CANARY = 'bulwark-lab-canary';

/** Where the running mirror records its release, so later calls (publishToLabMirror) index the same suites. */
const codenameFile = (dir: string) => join(dir, 'codename');

/** The lab mirror's directory. Pure. */
const mirrorDir = (plan: LabPlan) => `${plan.stateDir}/mirror`;

/** The lab's mirror of a release (`codename`): its places and URLs. Pure. */
export function planLabMirror(plan: LabPlan, codename = 'bookworm'): LabMirror {
  const dir = mirrorDir(plan);
  return {
    dir,
    www: `${dir}/www`,
    gnupg: `${dir}/gnupg`,
    url: `http://${plan.outsideAddr}/debian`,
    securityUrl: `http://${plan.outsideAddr}/debian-security`,
    codename,
    port: 80,
  };
}

/** The Release file of one suite (Debian's fields; SHA256 of each index). Pure. */
export function releaseFile(o: { origin: string; label: string; suite: string; codename: string; arch: string; date: Date; files: { path: string; data: Buffer }[] }): string {
  const sums = o.files.map((f) => ` ${createHash('sha256').update(f.data).digest('hex')} ${String(f.data.length).padStart(8)} ${f.path}`).join('\n');
  return [
    `Origin: ${o.origin}`,
    `Label: ${o.label}`,
    `Suite: ${o.suite}`,
    `Codename: ${o.codename}`,
    `Date: ${o.date.toUTCString()}`,
    `Architectures: ${o.arch}`,
    'Components: main',
    'Description: Bulwark lab repository',
    'SHA256:',
    sums,
    '',
  ].join('\n');
}

const SUITES = (codename: string) => [
  { archive: 'debian', suite: codename, release: 'stable', label: 'Debian' },
  { archive: 'debian', suite: `${codename}-updates`, release: 'stable-updates', label: 'Debian' },
  { archive: 'debian-security', suite: `${codename}-security`, release: 'stable-security', label: 'Debian-Security' },
];

const gpgArgs = (m: LabMirror) => ['gpg', '--homedir', m.gnupg, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', ''];

/** Indexes and signs one suite: Packages(.gz) of the debs listed for it, Release, InRelease. */
async function indexSuite(m: LabMirror, archive: string, suite: string, release: string, label: string, debs: string[]): Promise<void> {
  const arch = (await runOk(['dpkg', '--print-architecture'])).stdout.trim();
  const root = join(m.www, archive);
  const dist = join(root, 'dists', suite);
  const bin = join(dist, 'main', `binary-${arch}`);
  mkdirSync(bin, { recursive: true });
  let packages = '';
  if (debs.length) {
    // the archive's whole pool (one archive per suite with packages): paths relative to the archive root
    packages = (await runOk(['dpkg-scanpackages', '--multiversion', 'pool/main', '/dev/null'], { cwd: root, timeoutMs: 120_000 })).stdout;
  }
  const data = Buffer.from(packages);
  const gz = gzipSync(data);
  writeFileSync(join(bin, 'Packages'), data);
  writeFileSync(join(bin, 'Packages.gz'), gz);
  const rel = releaseFile({
    origin: 'Debian',
    label,
    suite: release,
    codename: suite,
    arch,
    date: new Date(),
    files: [
      { path: `main/binary-${arch}/Packages`, data },
      { path: `main/binary-${arch}/Packages.gz`, data: gz },
    ],
  });
  writeFileSync(join(dist, 'Release'), rel);
  rmSync(join(dist, 'InRelease'), { force: true });
  await runOk([...gpgArgs(m), '--local-user', 'mirror@lab.bulwark.test', '--clearsign', '--output', join(dist, 'InRelease'), join(dist, 'Release')]);
}

/** The .debs of one archive's pool, relative to the archive root, for one suite (by a list file per suite). */
function suiteDebs(m: LabMirror, suite: string): string[] {
  const f = join(m.dir, `${suite}.debs`);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

/** Stops the gpg agent of the lab's signing key, if one runs (also at `lab down`). */
export async function stopAgent(m: LabMirror): Promise<void> {
  // gpg starts an agent for the key; it must not outlive the step
  await run(['gpgconf', '--homedir', m.gnupg, '--kill', 'all']);
}

/**
 * The canary: a service (`bulwark-lab-canary.service`, its program a copy of this host's sleep) and a
 * version file. Installed (1.0) it starts its service; an upgrade replaces the program under the running
 * service and deliberately does not restart it, so a restart afterwards is needrestart's doing.
 */
export async function buildCanary(workDir: string, version: string): Promise<string> {
  const arch = (await runOk(['dpkg', '--print-architecture'])).stdout.trim();
  const root = join(workDir, `${CANARY}-${version}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr/lib', CANARY), { recursive: true });
  mkdirSync(join(root, 'usr/lib/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'usr/share', CANARY), { recursive: true });
  copyFileSync('/usr/bin/sleep', join(root, 'usr/lib', CANARY, 'canary'));
  chmodSync(join(root, 'usr/lib', CANARY, 'canary'), 0o755);
  writeFileSync(join(root, 'usr/share', CANARY, 'version'), `${version}\n`);
  writeFileSync(
    join(root, 'usr/lib/systemd/system', `${CANARY}.service`),
    `[Unit]\nDescription=Bulwark lab canary (its program is replaced by the lab's security update)\n\n[Service]\nExecStart=/usr/lib/${CANARY}/canary infinity\n\n[Install]\nWantedBy=multi-user.target\n`,
  );
  writeFileSync(
    join(root, 'DEBIAN/control'),
    `Package: ${CANARY}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: Bulwark lab <lab@lab.bulwark.test>\nSection: misc\nPriority: optional\nDescription: Bulwark lab canary\n A service whose program a security update replaces (lab only).\n`,
  );
  writeFileSync(
    join(root, 'DEBIAN/postinst'),
    `#!/bin/sh\nset -e\nif [ "$1" = configure ] && [ -z "$2" ]; then\n  systemctl daemon-reload || true\n  systemctl enable --now ${CANARY}.service || true\nfi\n`,
  );
  chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
  const out = join(workDir, `${CANARY}_${version}_${arch}.deb`);
  await runOk(['dpkg-deb', '--root-owner-group', '--build', root, out]);
  rmSync(root, { recursive: true, force: true });
  return out;
}

/** Downloads what a machine of `rootfs` lacks for Bulwark's package list (cached by the rootfs's dpkg status). */
async function nodeDebs(plan: LabPlan, rootfs: string, say: (m: string) => void): Promise<string[]> {
  const distro = loadDistros().supported.find((d) => d.id === 'debian' && d.version === '12');
  if (!distro) throw new Error('Debian 12 is not in provisioning/distros.json');
  const packages = packagesFor(distro);
  const status = readFileSync(join(rootfs, 'var/lib/dpkg/status'), 'utf8');
  const key = createHash('sha256').update(status).update('\0').update(packages.join(' ')).digest('hex').slice(0, 16);
  const dir = join(plan.cacheDir, `mirror-debs-${key}`);
  if (!existsSync(join(dir, '.complete'))) {
    say(`lab: downloading the .debs a lab machine lacks for the mirror (${packages.length} packages and their dependencies)`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'archives', 'partial'), { recursive: true });
    writeFileSync(join(dir, 'status'), status);
    const apt = [
      'apt-get',
      '-o',
      `Dir::State::status=${join(dir, 'status')}`,
      '-o',
      `Dir::Cache::archives=${join(dir, 'archives')}/`,
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'APT::Install-Recommends=false',
    ];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = await run([...apt, 'install', '--download-only', '-y', ...packages], { env, timeoutMs: 10 * 60_000 });
    if (r.code !== 0 && /Unable to locate|has no installation candidate/.test(r.stderr)) {
      await runOk(['apt-get', 'update', '-qq'], { timeoutMs: 5 * 60_000 });
      r = await run([...apt, 'install', '--download-only', '-y', ...packages], { env, timeoutMs: 10 * 60_000 });
    }
    if (r.code !== 0) throw new Error(`downloading the lab mirror's packages failed: ${r.stderr.trim().slice(-600)}`);
    writeFileSync(join(dir, '.complete'), '');
  }
  return readdirSync(join(dir, 'archives'))
    .filter((f) => f.endsWith('.deb'))
    .map((f) => join(dir, 'archives', f));
}

/** Pool file name for a .deb (an epoch's "%3a" made plain, so no URL decoding can differ). Pure. */
const poolName = (f: string) => basename(f).replace(/%3a/gi, '_');

function addToPool(m: LabMirror, archive: string, deb: string): string {
  const pool = join(m.www, archive, 'pool', 'main');
  mkdirSync(pool, { recursive: true });
  const name = poolName(deb);
  const dest = join(pool, name);
  if (!existsSync(dest)) {
    try {
      linkSync(deb, dest);
    } catch {
      copyFileSync(deb, dest);
    }
  }
  return `pool/main/${name}`;
}

async function waitHttp(plan: LabPlan, url: string, log: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await run(['curl', '-sS', '-f', '-o', '/dev/null', url], { netns: plan.outsideNs })).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the lab mirror did not answer at ${url}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-1500) : ''}`);
}

/**
 * Builds the repository (see LabMirror), makes its signing key and starts the HTTP server on the outside
 * network. Returns the mirror and the ASCII-armored public key for the config's `signedBy`.
 */
export async function startLabMirror(plan: LabPlan, rootfs: string, say: (m: string) => void, debian: LabDebian = '12'): Promise<LabMirror & { publicKey: string }> {
  const m = planLabMirror(plan, rootfsRecipe(debian).codename);
  rmSync(m.dir, { recursive: true, force: true });
  mkdirSync(m.gnupg, { recursive: true, mode: 0o700 });
  writeFileSync(codenameFile(m.dir), `${m.codename}\n`);
  const debs = debian === '12' ? await nodeDebs(plan, rootfs, say) : [];
  say(`lab: apt mirror on the outside network (${m.url}, ${debs.length} .debs and the canary), signed with a key made for this lab`);
  let publicKey: string;
  try {
    await runOk([...gpgArgs(m), '--quick-generate-key', 'Bulwark lab mirror <mirror@lab.bulwark.test>', 'ed25519', 'sign', 'never']);
    publicKey = (await runOk([...gpgArgs(m), '--armor', '--export', 'mirror@lab.bulwark.test'])).stdout;
    const canary = await buildCanary(m.dir, '1.0');
    const main = [...debs, canary].map((d) => addToPool(m, 'debian', d));
    writeFileSync(join(m.dir, `${m.codename}.debs`), main.join('\n') + '\n');
    for (const s of SUITES(m.codename)) await indexSuite(m, s.archive, s.suite, s.release, s.label, suiteDebs(m, s.suite));
  } finally {
    await stopAgent(m);
  }
  writeFileSync(join(m.dir, 'public.asc'), publicKey);
  const log = join(m.dir, 'http.log');
  const out = openSync(log, 'a', 0o600);
  // detached in the outside namespace; `lab down` kills every process there
  const c = spawn('ip', ['netns', 'exec', plan.outsideNs, '/usr/bin/python3', '-m', 'http.server', String(m.port), '--bind', plan.outsideAddr, '--directory', m.www], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  c.unref();
  await waitHttp(plan, `${m.url}/dists/${m.codename}/InRelease`, log);
  return { ...m, publicKey };
}

/**
 * Publishes a .deb in one suite of the running lab mirror (e.g. a security update in bookworm-security):
 * adds it to that archive's pool, re-indexes and re-signs the suite.
 */
export async function publishToLabMirror(plan: LabPlan, suite: string, deb: string): Promise<void> {
  const file = codenameFile(mirrorDir(plan));
  const m = planLabMirror(plan, existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  const s = SUITES(m.codename).find((x) => x.suite === suite);
  if (!s)
    throw new Error(
      `the lab mirror has no suite ${suite} (it has ${SUITES(m.codename)
        .map((x) => x.suite)
        .join(', ')})`,
    );
  if (!existsSync(m.gnupg) || !statSync(m.gnupg).isDirectory()) throw new Error('the lab mirror is not running (bulwark lab up)');
  const rel = addToPool(m, s.archive, deb);
  const list = [...new Set([...suiteDebs(m, suite), rel])];
  writeFileSync(join(m.dir, `${suite}.debs`), list.join('\n') + '\n');
  const dist = join(m.www, s.archive, 'dists', s.suite);
  const before = existsSync(join(dist, 'InRelease')) ? Math.floor(statSync(join(dist, 'InRelease')).mtimeMs / 1000) : 0;
  try {
    await indexSuite(m, s.archive, s.suite, s.release, s.label, list);
  } finally {
    await stopAgent(m);
  }
  // the HTTP server answers If-Modified-Since by whole seconds: indexes rewritten within the second apt last
  // fetched them would be "not modified", so they are dated at least a second after the ones they replace
  if (Math.floor(Date.now() / 1000) <= before) touchTree(dist, before + 1);
}

/** Sets the modification time of every file under `dir` to `epochSec`. */
function touchTree(dir: string, epochSec: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) touchTree(p, epochSec);
    else utimesSync(p, epochSec, epochSec);
  }
}
