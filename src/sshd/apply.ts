import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { run, type ExecResult } from '../util/exec.js';
import { parseOpenSshVersion, renderSshdDropIn, SSHD_DROPIN, SSHD_MAIN, type OpenSshVersion } from './render.js';
import type { SshServerConfig } from './schema.js';

/** Where the sshd adapter acts: the node's own sshd by default; a private sshd in a namespace in tests. */
export interface SshdHost {
  /** The drop-in Bulwark owns, and the main file that includes it (what `sshd -t -f` and `sshd -T -f` read). */
  dropIn: string;
  mainConfig: string;
  /** Runs sshd (-V, -t, -T). */
  exec: (argv: string[]) => Promise<ExecResult>;
  /** Makes the running sshd re-read its configuration without ending sessions (SIGHUP; never a restart). */
  reload: () => Promise<string>;
}

export function nodeSshdHost(): SshdHost {
  const exec = (argv: string[]) => run(argv, { timeoutMs: 15_000 });
  return {
    dropIn: SSHD_DROPIN,
    mainConfig: SSHD_MAIN,
    exec,
    async reload() {
      if (existsSync('/run/systemd/system')) {
        // ssh.service's ExecReload runs `sshd -t` then SIGHUP to the listener: open sessions are separate processes
        if ((await exec(['systemctl', 'is-active', '--quiet', 'ssh'])).code !== 0) return 'ssh.service not running: the drop-in applies when it starts';
        const r = await exec(['systemctl', 'reload', 'ssh']);
        if (r.code !== 0) throw new Error(`systemctl reload ssh failed: ${(r.stderr || r.stdout).trim()}`);
        return 'ssh.service reloaded';
      }
      return hupPidFile('/run/sshd.pid', exec);
    },
  };
}

/** SIGHUP to the sshd whose pid is in `pidFile` (no systemd). */
export async function hupPidFile(pidFile: string, exec: SshdHost['exec']): Promise<string> {
  let pid: string;
  try {
    pid = (await readFile(pidFile, 'utf8')).trim();
  } catch {
    return `sshd not running (no ${pidFile}): the drop-in applies when it starts`;
  }
  if (!/^\d+$/.test(pid)) throw new Error(`${pidFile} holds no pid`);
  const r = await exec(['kill', '-HUP', pid]);
  if (r.code !== 0) throw new Error(`kill -HUP ${pid}: ${r.stderr.trim()}`);
  return `sshd ${pid} reloaded (SIGHUP)`;
}

/** The running sshd's OpenSSH version (`sshd -V`; older sshd print it in their usage text). */
export async function sshdVersion(host: SshdHost): Promise<OpenSshVersion | undefined> {
  try {
    const r = await host.exec(['sshd', '-V']);
    return parseOpenSshVersion(`${r.stderr}\n${r.stdout}`);
  } catch {
    return undefined;
  }
}

export class SshdConfigError extends Error {
  override name = 'SshdConfigError';
}

export interface SshdApplyResult {
  status: 'unchanged' | 'written' | 'disabled' | 'no-sshd';
  notes: string[];
  version?: OpenSshVersion;
}

const firstLine = (r: ExecResult) => (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');

/**
 * Brings the drop-in to the rendered content: nothing when it already is (idempotent); otherwise the new file is put
 * in place and the whole configuration checked (`sshd -t -f MAIN`); a failure puts the old file back (or removes the
 * new one) and throws. Only a configuration that passed is reloaded. The listening sshd holds its configuration in
 * memory and hands it to each new connection, so the file on disk is read only by the check and the reload.
 */
export async function applySshd(cfg: SshServerConfig, host: SshdHost): Promise<SshdApplyResult> {
  if (!cfg.enabled) return { status: 'disabled', notes: ['ssh.server.enabled is false: sshd left alone'] };
  const version = await sshdVersion(host);
  if (!version) return { status: 'no-sshd', notes: ['no sshd on this host (sshd -V gave no OpenSSH version)'] };
  const content = renderSshdDropIn(cfg, version);
  const notes: string[] = [];
  let old: string | undefined;
  let same = false;
  try {
    const [cur, st] = await Promise.all([readFile(host.dropIn, 'utf8'), lstat(host.dropIn)]);
    old = cur;
    same = cur === content && st.isFile() && (st.mode & 0o777) === 0o600;
  } catch {
    old = undefined;
  }
  const main = await readFile(host.mainConfig, 'utf8').catch(() => '');
  if (!includesDropInDir(main, dirname(host.dropIn))) notes.push(`${host.mainConfig} does not Include ${dirname(host.dropIn)}/*.conf: sshd does not read ${host.dropIn}`);
  if (same) return { status: 'unchanged', notes, version };

  await mkdir(dirname(host.dropIn), { recursive: true, mode: 0o755 });
  writeFileAtomic(host.dropIn, content, { mode: 0o600 });
  const whole = await host.exec(['sshd', '-t', '-f', host.mainConfig]);
  if (whole.code !== 0) {
    if (old === undefined) await unlink(host.dropIn).catch(() => undefined);
    else writeFileAtomic(host.dropIn, old, { mode: 0o600 });
    throw new SshdConfigError(`sshd rejected the configuration with the drop-in, previous file restored: ${firstLine(whole)}`);
  }
  notes.push(await host.reload());
  return { status: 'written', notes, version };
}

/** Whether sshd_config has an Include that reads DIR/*.conf (before any Match block). Pure. */
export function includesDropInDir(main: string, dir: string): boolean {
  for (const raw of main.split('\n')) {
    const line = raw.trim();
    if (/^match\s/i.test(line)) return false;
    const m = /^include\s+(.+)$/i.exec(line);
    if (m && (m[1] as string).split(/\s+/).some((p) => p === `${dir}/*.conf` || p === `${dir.replace(/^\/etc\/ssh\//, '')}/*.conf`)) return true;
  }
  return false;
}

/** The effective configuration: `sshd -T -f MAIN` output, or the error. */
export async function effectiveConfig(host: SshdHost): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  const r = await host.exec(['sshd', '-T', '-f', host.mainConfig]);
  return r.code === 0 ? { ok: true, text: r.stdout } : { ok: false, error: firstLine(r) };
}
