import { EXIT, type ExitCode } from './command.js';

/**
 * An error that knows the exit code it means (README "Exit codes"): the CLI prints its message and exits
 * with `exitCode`; any other error is a bug or an unexpected failure (logged, exit 1).
 */
export class BulwarkError extends Error {
  override name = 'BulwarkError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.CHECK_FAILED,
  ) {
    super(message);
  }
}

/** Bad command-line usage: printed with a pointer to the command's --help; exit 2. */
export class UsageError extends BulwarkError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

/** A node could not be reached or provisioned (the other nodes still finish); exit 3. */
export class NodeError extends BulwarkError {
  override name = 'NodeError';
  constructor(message: string) {
    super(message, EXIT.NODE_FAILED);
  }
}
