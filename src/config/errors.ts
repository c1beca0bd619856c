import { EXIT } from '../core/command.js';
import { BulwarkError } from '../core/errors.js';

export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the field, e.g. "nodes.1.ssh"; "" for the document itself. */
  field: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.field || '(document)'}: ${p.message}`;
}

/** A config file that failed to load; carries every problem found, not only the first. */
export class ConfigError extends BulwarkError {
  override name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'), EXIT.USAGE);
  }
}
