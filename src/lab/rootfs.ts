import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runOk } from '../util/exec.js';

/** What the cached machine image holds: the minimum for systemd + SSH; everything else is bootstrap's job. */
export const LAB_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2'];
const STAMP = `bookworm minbase ${LAB_PACKAGES.join(',')} v1`;

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

/** Returns the cached rootfs dir, building it with debootstrap first if needed (about a minute). */
export async function ensureRootfs(cacheDir: string, say: (msg: string) => void): Promise<string> {
  const dir = join(cacheDir, 'rootfs-bookworm');
  const stampFile = join(dir, '.bulwark-lab-rootfs');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === STAMP) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const mirror = hostDebianMirror();
  say(`lab: building the Debian 12 rootfs with debootstrap from ${mirror} (cached afterwards, ~1 min)`);
  await runOk(['debootstrap', '--variant=minbase', `--include=${LAB_PACKAGES.join(',')}`, 'bookworm', tmp, mirror], { timeoutMs: 15 * 60_000 });
  // Each machine gets its own identity at boot: no shared host keys, no shared machine-id.
  await runOk(['bash', '-c', `rm -f "${tmp}"/etc/ssh/ssh_host_* && : > "${tmp}/etc/machine-id" && rm -rf "${tmp}"/var/cache/apt/archives/*.deb`]);
  writeFileSync(join(tmp, '.bulwark-lab-rootfs'), STAMP + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
