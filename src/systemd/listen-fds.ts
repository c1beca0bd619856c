/**
 * Socket-activated descriptors (sd_listen_fds_with_names): systemd passes fds 3.. with
 * $LISTEN_FDS, $LISTEN_PID and $LISTEN_FDNAMES (from FileDescriptorName=). We map them by name,
 * never by position. Pure over the environment; call once at start and clear the variables.
 */
export const SD_LISTEN_FDS_START = 3;

export function listenFdsByName(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count <= 0) return out;
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== pid) return out;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  for (let i = 0; i < count; i++) {
    const name = names[i] || 'unknown';
    const fds = out.get(name) ?? [];
    fds.push(SD_LISTEN_FDS_START + i);
    out.set(name, fds);
  }
  return out;
}

/** Removes the variables so children don't think the fds are theirs. */
export function unsetListenEnv(env: NodeJS.ProcessEnv = process.env): void {
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
}
