import { pino, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

/** Key names whose values are secrets. Matched case-insensitively at any depth. */
const SECRET_KEY = /(private_?key|privatekey|secret|password|passphrase|token|ticket|psk|preshared|signature|credential|^key$)/i;

export const REDACTED = '[redacted]';

/** Returns a copy of `value` with every secret-looking field replaced, at any depth. Pure. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && typeof v !== 'boolean' ? REDACTED : redactSecrets(v, depth + 1);
  }
  return out;
}

/** True when stdout/stderr are connected to the journal (systemd sets JOURNAL_STREAM). */
export function underJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  return typeof env.JOURNAL_STREAM === 'string' && env.JOURNAL_STREAM.length > 0;
}

export interface LogSetup {
  name?: string;
  level?: string;
  /** Force a mode; default: JSON under systemd or when not a TTY, pretty on a terminal. */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

export function createLogger(setup: LogSetup = {}): Logger {
  const level = setup.level ?? process.env.BULWARK_LOG_LEVEL ?? 'info';
  const options: LoggerOptions = {
    name: setup.name ?? 'bulwark',
    level,
    base: { pid: process.pid },
    formatters: { log: (obj) => redactSecrets(obj) as Record<string, unknown> },
  };
  const dest = setup.destination ?? process.stderr;
  const wantPretty = setup.pretty ?? (!underJournal() && Boolean((dest as NodeJS.WriteStream).isTTY));
  if (wantPretty) {
    return pino(options, pretty({ destination: dest as NodeJS.WritableStream & { fd?: number }, colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(options, dest);
}

let root: Logger | undefined;
/** The process-wide logger (stderr). */
export function log(): Logger {
  root ??= createLogger();
  return root;
}
export function setLogger(l: Logger): void {
  root = l;
}
