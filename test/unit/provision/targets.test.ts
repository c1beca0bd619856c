import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/core/command.js';
import { parseConfig } from '../../../src/config/index.js';
import { STARTER } from '../../../src/config/starter.js';
import { shQuote } from '../../../src/provision/ssh.js';
import { resolveTargets } from '../../../src/provision/targets.js';
import { execFileSync } from 'node:child_process';

const cfg = parseConfig(STARTER);

describe('node targets', () => {
  it('--all is every node in config order; names pick nodes', () => {
    expect(resolveTargets(cfg, [], true).map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    expect(resolveTargets(cfg, ['n3', 'n1'], false).map((n) => n.name)).toEqual(['n1', 'n3']);
  });
  it('unknown names, no names and names with --all are usage errors', () => {
    expect(() => resolveTargets(cfg, ['n7'], false)).toThrow(new UsageError('unknown node: n7 (config has n1, n2, n3)'));
    expect(() => resolveTargets(cfg, [], false)).toThrow(UsageError);
    expect(() => resolveTargets(cfg, ['n1'], true)).toThrow(UsageError);
  });
});

describe('shell quoting for remote commands', () => {
  it.each(['plain', "it's", 'a b', '$(rm -rf /)', '`x`', 'semi;colon', '"dq"', ''])('round-trips %j through sh', (s) => {
    const out = execFileSync('sh', ['-c', `printf %s ${shQuote(s) || "''"}`]).toString();
    expect(out).toBe(s);
  });
});
