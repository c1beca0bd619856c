import { describe, expect, it } from 'vitest';
import { splitArgv } from '../../../src/cli/args.js';
import { UsageError } from '../../../src/core/errors.js';

const none = { json: false, verbose: false, help: false, version: false };
const routerOwnsConfig = (name: string) => (name === 'router' ? ['config'] : []);

describe('global options', () => {
  it('stand before the command', () => {
    expect(splitArgv(['-c', 'a.yaml', '--json', 'status', 'n1'])).toEqual({ globals: { ...none, config: 'a.yaml', json: true }, name: 'status', args: ['n1'] });
  });
  it('or after it, in any order, and are taken out of the command argv', () => {
    expect(splitArgv(['validate', '-c', 'other.yaml'])).toEqual({ globals: { ...none, config: 'other.yaml' }, name: 'validate', args: [] });
    expect(splitArgv(['status', '--json', '-c', 'x.yaml', 'n2'])).toEqual({ globals: { ...none, config: 'x.yaml', json: true }, name: 'status', args: ['n2'] });
    expect(splitArgv(['audit', '--config=y.yaml', '-v', '--all'])).toEqual({ globals: { ...none, config: 'y.yaml', verbose: true }, name: 'audit', args: ['--all'] });
  });
  it('the last -c wins', () => {
    expect(splitArgv(['-c', 'a.yaml', 'validate', '-c', 'b.yaml']).globals.config).toBe('b.yaml');
  });
  it("a command's own option of the same name stays with it (router --config FILE)", () => {
    expect(splitArgv(['router', '--config', 'r.yaml'], routerOwnsConfig)).toEqual({ globals: none, name: 'router', args: ['--config', 'r.yaml'] });
    expect(splitArgv(['-c', 'c.yaml', 'router', '--config=r.yaml'], routerOwnsConfig)).toEqual({ globals: { ...none, config: 'c.yaml' }, name: 'router', args: ['--config=r.yaml'] });
  });
  it('nothing after -- is taken', () => {
    expect(splitArgv(['app', 'logs', 'x', '--', '--json', '-c', 'z'])).toEqual({ globals: none, name: 'app', args: ['logs', 'x', '--', '--json', '-c', 'z'] });
  });
  it('--help and --version are global only before the command; unknown options after it are the command’s to reject', () => {
    expect(splitArgv(['--help'])).toEqual({ globals: { ...none, help: true }, name: undefined, args: [] });
    expect(splitArgv(['validate', '--version', '--bogus'])).toEqual({ globals: none, name: 'validate', args: ['--version', '--bogus'] });
  });
  it('an unknown option before the command, or -c without a file, is a usage error', () => {
    expect(() => splitArgv(['--bogus', 'validate'])).toThrow(new UsageError('unknown option --bogus'));
    expect(() => splitArgv(['validate', '-c'])).toThrow(new UsageError('-c needs a FILE'));
    expect(() => splitArgv(['validate', '-c', '--json'])).toThrow(UsageError);
    expect(() => splitArgv(['validate', '--config='])).toThrow(UsageError);
  });
});
