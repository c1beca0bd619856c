import { spawn } from 'node:child_process';

/**
 * sd_notify without a native addon. Node has no AF_UNIX datagram sockets, so we hand the message to
 * systemd-notify(1) with --pid=<our pid>: as root it sends SCM_CREDENTIALS carrying our PID, so the
 * service manager attributes the message to the main process (works with NotifyAccess=main).
 * A no-op when not started by systemd with Type=notify (no $NOTIFY_SOCKET).
 */
export function sdNotify(fields: Record<string, string | number>, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  const lines = Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`);
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', [`--pid=${process.pid}`, ...lines], { stdio: 'ignore', env });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/** Watchdog interval from $WATCHDOG_USEC (only when it is meant for us), in ms; undefined if none. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.floor(usec / 1000);
}
