import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../../src/core/command.js';
import { UsageError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/log/logger.js';
import { actOnNodes, reportFailures } from '../../../src/remote/act.js';

const ctx = (): CliContext & { errText: () => string } => {
  let err = '';
  const errStream = { write: (s: string) => ((err += s), true) } as unknown as NodeJS.WriteStream;
  return { configPath: 'unused.yaml', configExplicit: true, json: false, log: createLogger({ level: 'silent', pretty: false }), out: process.stdout, err: errStream, errText: () => err };
};
const noConfig = () => {
  throw new Error('the config must not be read');
};

describe('act locally or on the nodes', () => {
  it('on a node with no name, acts here and keeps the command’s own exit code (no config read, no SSH)', async () => {
    const c = ctx();
    const r = await actOnNodes(
      c,
      { targets: { names: [], all: false }, whenNone: 'required', config: noConfig, local: async (self) => ({ node: self, code: 2, result: `did ${self}` }), remote: { argv: ['x'], parse: String } },
      'n2',
    );
    expect(r).toEqual({ outcomes: [{ node: 'n2', code: 2, result: 'did n2' }], code: 2 });
  });

  it('a usage error from the selection rule comes before any work', async () => {
    let ran = false;
    const run = actOnNodes(
      ctx(),
      {
        targets: { names: ['n1'], all: true },
        whenNone: 'all',
        config: noConfig,
        local: async (self) => {
          ran = true;
          return { node: self, code: 0 };
        },
        remote: { argv: ['x'], parse: String },
      },
      'n1',
    );
    await expect(run).rejects.toThrow(UsageError);
    expect(ran).toBe(false);
  });

  it('reports each node that failed to answer as NODE: why', () => {
    const c = ctx();
    reportFailures(c, [
      { node: 'n1', code: 0, result: 1 },
      { node: 'n2', code: 3, error: 'n2 is not bootstrapped' },
    ]);
    expect(c.errText()).toBe('n2: n2 is not bootstrapped\n');
  });
});
