import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli/commands/index.js';
import { bulwark } from '../../helpers/lab.js';

// Runs the built CLI (make test builds first) as an operator would.
const dir = mkdtempSync(join(tmpdir(), 'bw-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bulwark CLI', () => {
  it('--help lists every command and the exit codes', async () => {
    const r = await bulwark(['--help'], { config: '' });
    expect(r.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(r.stdout).toContain(`  ${name}`);
    expect(r.stdout).toContain('0 ok, 1 a check failed, 2 usage or config error, 3 a node failed');
  });

  it.each(Object.keys(COMMANDS))('%s --help tells its usage', async (name) => {
    const r = await bulwark([name, '--help'], { config: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: bulwark/);
  });

  it('an unknown command or flag is a usage error (exit 2)', async () => {
    expect((await bulwark(['frobnicate'], { config: '' })).code).toBe(2);
    const r = await bulwark(['bootstrap', '--bogus'], { config: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bogus/);
  });

  it('init writes a starter file that validates, and will not overwrite it', async () => {
    const file = join(dir, 'bulwark.yaml');
    expect((await bulwark(['init'], { config: file })).code).toBe(0);
    const v = await bulwark(['validate', '--json'], { config: file });
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, nodes: ['n1', 'n2', 'n3'] });
    const again = await bulwark(['init'], { config: file });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists/);
  });

  it('validate reports a typo with file:line:col and exits 2', async () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, readFileSync(join(dir, 'bulwark.yaml'), 'utf8').replace('  identityFile:', '  identtyFile:'));
    const r = await bulwark(['validate'], { config: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+:3: ssh\\.identtyFile: unknown key "identtyFile"$`, 'm'));
  });

  it('a command needing a config fails with exit 2 and says which file is missing', async () => {
    const r = await bulwark(['bootstrap', '--all'], { config: join(dir, 'nope.yaml') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope.yaml:0:0: (document): no such file');
  });
});
