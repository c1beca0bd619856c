import { UsageError } from '../core/errors.js';

/** The global options, wherever they stand on the command line. */
export interface GlobalOptions {
  config?: string;
  json: boolean;
  verbose: boolean;
  help: boolean;
  version: boolean;
}

export interface SplitArgv {
  globals: GlobalOptions;
  /** The command's name (the first word that is not a global option). */
  name?: string;
  /** The command's own argv: everything after its name but the global options. */
  args: string[];
}

/** Options that take a value; `-h`, `--help`, `--version` count as global only before the command's name. */
const VALUED = new Map([
  ['-c', 'config'],
  ['--config', 'config'],
]);

/**
 * Splits argv into the global options and the command's own argv. Global options may stand before the
 * command's name or after it (`bulwark validate -c other.yaml`, `bulwark status --json -c x.yaml`); after it,
 * a global option the command defines itself (`own`: the router's `--config FILE`) is left to the command, and
 * nothing after `--` is taken. `ownOf` is asked for the command's own options once its name is known.
 * Throws UsageError for an unknown option before the name or a missing value. Pure.
 */
export function splitArgv(argv: readonly string[], ownOf: (name: string) => readonly string[] = () => []): SplitArgv {
  const g: GlobalOptions = { json: false, verbose: false, help: false, version: false };
  const args: string[] = [];
  let name: string | undefined;
  let own: readonly string[] = [];
  let passthrough = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (passthrough) {
      args.push(a);
      continue;
    }
    if (name !== undefined && a === '--') {
      passthrough = true;
      args.push(a);
      continue;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const long = flag.startsWith('--') ? flag.slice(2) : undefined;
    if (name !== undefined && long !== undefined && own.includes(long)) {
      args.push(a);
      continue;
    }
    const valued = VALUED.get(flag);
    if (valued) {
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('-'))) throw new UsageError(`${flag} needs a FILE`);
      g.config = value;
    } else if (a === '--json') g.json = true;
    else if (a === '-v' || a === '--verbose') g.verbose = true;
    else if (name === undefined && (a === '-h' || a === '--help')) g.help = true;
    else if (name === undefined && a === '--version') g.version = true;
    else if (name === undefined && a.startsWith('-')) throw new UsageError(`unknown option ${flag}`);
    else if (name === undefined) {
      name = a;
      own = ownOf(a);
    } else args.push(a);
  }
  return { globals: g, name, args };
}
