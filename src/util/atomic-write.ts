import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** The file's mode; default: the old file's, else 0644. */
  mode?: number;
  /** Called once the temporary file is complete and synced, before it replaces `path` (a seam for tests). */
  beforeRename?: (tmp: string) => void;
}

/**
 * Replaces `path` with `data` so that a reader (or a crash, or a power cut) sees the old file or the new one,
 * never a part: the data goes to a temporary file in the same directory, is fsynced, takes the old file's
 * owner (and mode, unless given), and is renamed over `path`; then the directory is fsynced. On any error the
 * temporary file is removed and `path` is untouched. Every writer of state, units, keys and rollback
 * snapshots uses this.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  let old: { mode: number; uid: number; gid: number } | undefined;
  try {
    const st = statSync(path);
    old = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch {
    old = undefined;
  }
  const mode = opts.mode ?? old?.mode ?? 0o644;
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // Created 0600 and widened after: the contents are never readable under a looser mode than the target's.
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      if (old && (old.uid !== process.getuid?.() || old.gid !== process.getgid?.())) fchownSync(fd, old.uid, old.gid);
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    opts.beforeRename?.(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
