import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDistros, packagesFor } from '../config/distros.js';
import { runOk } from '../util/exec.js';

/** What the cached machine image holds: the minimum for systemd + SSH; everything else is bootstrap's job. */
export const LAB_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2'];

/** The Debian releases the lab can boot. */
export type LabDebian = '12' | '13';

/**
 * What a lab machine of that release is made of. Debian 12 machines are minimal: bootstrap carries the
 * rest as an offline bundle built on this host. An offline bundle must be built on the node's own release,
 * and this host is Debian 12, so Debian 13 machines come with Bulwark's distro packages installed
 * (provisioning/packages/debian-13.txt) and bootstrap finds nothing to install. Pure but for reading that list.
 */
export function rootfsRecipe(debian: LabDebian): { codename: string; packages: string[] } {
  const distro = loadDistros().supported.find((d) => d.id === 'debian' && d.version === debian);
  if (!distro) throw new Error(`Debian ${debian} is not in provisioning/distros.json`);
  return { codename: distro.codename, packages: debian === '12' ? LAB_PACKAGES : [...LAB_PACKAGES, ...packagesFor(distro)] };
}

/** The Debian mirror this host's apt uses (the lab builds its rootfs from the same place). */
export function hostDebianMirror(): string {
  if (process.env.BULWARK_LAB_MIRROR) return process.env.BULWARK_LAB_MIRROR;
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    try {
      const text = readFileSync(f, 'utf8');
      const m = /URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm\s/m.exec(text);
      if (m?.[1]) return m[1];
    } catch {
      /* next */
    }
  }
  return 'http://deb.debian.org/debian';
}

/** Returns the cached rootfs dir, building it with debootstrap first if needed (a minute or two). */
export async function ensureRootfs(cacheDir: string, say: (msg: string) => void, debian: LabDebian = '12'): Promise<string> {
  const { codename, packages } = rootfsRecipe(debian);
  const STAMP = `${codename} minbase ${packages.join(',')} v1`;
  const dir = join(cacheDir, `rootfs-${codename}`);
  const stampFile = join(dir, '.bulwark-lab-rootfs');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === STAMP) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const mirror = hostDebianMirror();
  say(`lab: building the Debian ${debian} rootfs with debootstrap from ${mirror} (cached afterwards, a minute or two)`);
  await runOk(['debootstrap', '--variant=minbase', `--include=${packages.join(',')}`, codename, tmp, mirror], { timeoutMs: 15 * 60_000 });
  // Each machine gets its own identity at boot: no shared host keys, no shared machine-id.
  await runOk(['bash', '-c', `rm -f "${tmp}"/etc/ssh/ssh_host_* && : > "${tmp}/etc/machine-id" && rm -rf "${tmp}"/var/cache/apt/archives/*.deb`]);
  writeFileSync(join(tmp, '.bulwark-lab-rootfs'), STAMP + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
