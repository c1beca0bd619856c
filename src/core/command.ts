import type { Logger } from 'pino';

/** Documented exit codes (README "Exit codes"). */
export const EXIT = { OK: 0, CHECK_FAILED: 1, USAGE: 2, NODE_FAILED: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface CliContext {
  /** Path given with -c/--config, or the default for where we run (see config/locate.ts). */
  configPath: string;
  /** True when the config path was given explicitly (-c or BULWARK_CONFIG). */
  configExplicit: boolean;
  json: boolean;
  log: Logger;
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

export interface Command {
  /** First word on the command line, e.g. "bootstrap", "firewall". */
  name: string;
  /** One line for `bulwark --help`. */
  summary: string;
  /** Full text for `bulwark NAME --help`; must tell the truth about flags and exit codes. */
  help: string;
  /** Receives the argv after the command name (global flags already removed). Returns the exit code. */
  run(ctx: CliContext, args: string[]): Promise<number>;
}
