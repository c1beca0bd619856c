import { run, runOk, type ExecResult } from '../util/exec.js';

/** A typed wrapper around systemctl(1) for the units Bulwark manages. */

export type UnitAction = 'start' | 'stop' | 'restart' | 'reload' | 'try-restart' | 'reload-or-restart' | 'enable' | 'disable' | 'reset-failed';

export interface UnitState {
  id: string;
  loadState: string;
  activeState: string;
  subState: string;
  mainPid: number;
  restarts: number;
  /** µs since the epoch the unit last became active, 0 when never. */
  activeEnterUsec: number;
}

export const SHOW_PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'ActiveEnterTimestampMonotonic', 'ActiveEnterTimestamp'] as const;

/** Parses `systemctl show -p ...` output for one or more units (blocks separated by blank lines). Pure. */
export function parseShow(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) cur[line.slice(0, eq)] = line.slice(eq + 1);
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

export function toUnitState(p: Record<string, string>): UnitState {
  return {
    id: p.Id ?? '',
    loadState: p.LoadState ?? 'unknown',
    activeState: p.ActiveState ?? 'unknown',
    subState: p.SubState ?? 'unknown',
    mainPid: Number(p.MainPID ?? 0) || 0,
    restarts: Number(p.NRestarts ?? 0) || 0,
    activeEnterUsec: p.ActiveEnterTimestamp ? Date.parse(p.ActiveEnterTimestamp) * 1000 || 0 : 0,
  };
}

export class Systemctl {
  constructor(private readonly binary = 'systemctl') {}

  raw(args: readonly string[], timeoutMs = 120_000): Promise<ExecResult> {
    return run([this.binary, ...args], { timeoutMs });
  }

  async act(action: UnitAction, units: readonly string[], opts: { now?: boolean; noBlock?: boolean } = {}): Promise<void> {
    if (units.length === 0) return;
    const flags = [...(opts.now ? ['--now'] : []), ...(opts.noBlock ? ['--no-block'] : [])];
    await runOk([this.binary, action, ...flags, '--', ...units], { timeoutMs: 180_000 });
  }

  async daemonReload(): Promise<void> {
    await runOk([this.binary, 'daemon-reload'], { timeoutMs: 120_000 });
  }

  async show(units: readonly string[], props: readonly string[] = SHOW_PROPERTIES): Promise<UnitState[]> {
    if (units.length === 0) return [];
    const r = await runOk([this.binary, 'show', `--property=${props.join(',')}`, '--', ...units]);
    return parseShow(r.stdout).map(toUnitState);
  }

  async isActive(unit: string): Promise<boolean> {
    return (await run([this.binary, 'is-active', '--quiet', '--', unit])).code === 0;
  }

  /** `systemctl kill -s SIGNAL UNIT` (all processes of the unit). */
  async kill(unit: string, signal = 'SIGTERM'): Promise<void> {
    await runOk([this.binary, 'kill', '-s', signal, '--', unit]);
  }

  /** True when systemd is PID 1 and answers (false on a build host or in a plain container). */
  async available(): Promise<boolean> {
    const r = await run([this.binary, 'is-system-running']).catch(() => undefined);
    return r !== undefined && !/offline|Failed to connect|System has not been booted/i.test(r.stdout + r.stderr);
  }
}

export const systemctl = new Systemctl();
