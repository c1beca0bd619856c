#!/usr/bin/env node
import { EXIT, type CliContext } from '../core/command.js';
import { BulwarkError, UsageError } from '../core/errors.js';
import { splitArgv } from './args.js';
import { COMMANDS } from './commands/index.js';
import { ConfigError } from '../config/errors.js';
import { locateConfig } from '../config/locate.js';
import { createLogger, setLogger } from '../log/logger.js';
import { VERSION } from '../version.js';

const GLOBAL_HELP = `bulwark ${VERSION}: a hardened three-node WAMP cluster from fresh Debian/Ubuntu servers

Usage: bulwark [-c FILE] [--json] [-v] COMMAND [ARGS]   (bulwark COMMAND --help for details;
       -c, --json and -v may also follow the command)

Global options:
  -c, --config FILE   cluster inventory (default: ./bulwark.yaml, else /etc/bulwark/bulwark.yaml on a node;
                      or $BULWARK_CONFIG)
      --json          machine-readable output where a command reports state
  -v, --verbose       debug logging (also BULWARK_LOG_LEVEL=debug)
  -h, --help          this text
      --version       print the version

Exit codes: 0 ok, 1 a check failed, 2 usage or config error, 3 a node failed.

Commands:
`;

function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return (
    GLOBAL_HELP +
    Object.entries(COMMANDS)
      .map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`)
      .join('\n') +
    '\n'
  );
}

export async function main(argv: string[]): Promise<number> {
  let split: ReturnType<typeof splitArgv>;
  try {
    split = splitArgv(argv, (n) => COMMANDS[n]?.ownOptions ?? []);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bulwark: ${e.message} (see bulwark --help)\n`);
    return EXIT.USAGE;
  }
  const { globals: values, name, args } = split;
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.OK;
  }
  if (!name || values.help) {
    process.stdout.write(globalHelp());
    return name || values.help ? EXIT.OK : EXIT.USAGE;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`bulwark: unknown command "${name}" (see bulwark --help)\n`);
    return EXIT.USAGE;
  }
  const log = createLogger({ level: values.verbose ? 'debug' : undefined });
  setLogger(log);
  const cfg = locateConfig(values.config);
  const ctx: CliContext = { configPath: cfg.path, configExplicit: cfg.explicit, json: values.json, log, out: process.stdout, err: process.stderr };
  const command = await entry.load();
  const beforeDashes = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    process.stdout.write(command.help.endsWith('\n') ? command.help : command.help + '\n');
    return EXIT.OK;
  }
  try {
    return await command.run(ctx, args);
  } catch (e) {
    // An error that knows its exit code: usage errors point at --help; config errors are FILE:LINE:COL lines.
    if (e instanceof UsageError) {
      process.stderr.write(`bulwark ${name}: ${e.message}\n(see bulwark ${name} --help)\n`);
      return e.exitCode;
    }
    if (e instanceof BulwarkError) {
      process.stderr.write(e instanceof ConfigError ? e.message + '\n' : `bulwark ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof TypeError && 'code' in e && String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bulwark ${name}: ${e.message}\n(see bulwark ${name} --help)\n`);
      return EXIT.USAGE;
    }
    log.error({ err: e }, `${name} failed`);
    return EXIT.CHECK_FAILED;
  }
}

const isMain = process.argv[1] !== undefined && /(?:main\.js|bulwark(?:\.mjs)?)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof TypeError && String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`bulwark: ${e.message} (see bulwark --help)\n`);
        process.exitCode = EXIT.USAGE;
        return;
      }
      process.stderr.write(`bulwark: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = EXIT.CHECK_FAILED;
    },
  );
}
