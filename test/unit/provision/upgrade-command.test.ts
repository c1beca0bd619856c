import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOutcome } from '../../../src/provision/upgrade-command.js';
import { bulwark } from '../../helpers/lab.js';

// The built CLI's `upgrade` refuses bad input before touching any node.
const dir = mkdtempSync(join(tmpdir(), 'bw-upgrade-cli-'));
const cfg = join(dir, 'bulwark.yaml');
beforeAll(async () => {
  expect((await bulwark(['init'], { config: cfg })).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bulwark upgrade (command line)', () => {
  it('--help tells the steps, the options and the exit codes', async () => {
    const r = await bulwark(['upgrade', '--help'], { config: '' });
    expect(r.code).toBe(0);
    for (const s of ['--runtime FILE', '--timeout SEC', '--json', '/opt/bulwark/previous', 'already at VERSION', '3 a node was rolled back']) expect(r.stdout).toContain(s);
  });

  it.each([
    [[], /which nodes/],
    [['--all', '--bogus'], /bogus/],
    [['n9'], /unknown node: n9/],
    [['--all', '--timeout', 'soon'], /--timeout must be a whole number/],
    [['--all', '--runtime', '/nonexistent/runtime.tar.gz'], /no such file/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const r = await bulwark(['upgrade', ...args], { config: cfg });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a --runtime that is not a runtime artifact is refused (exit 2) with the reason', async () => {
    const notTar = join(dir, 'notes.txt');
    writeFileSync(notTar, 'not a tarball\n');
    const r = await bulwark(['upgrade', '--all', '--runtime', notTar], { config: cfg });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a gzip'd tar/);
  });

  it('a rolled-back node is named with the reason', () => {
    expect(renderOutcome({ node: 'n1', result: 'rolled-back', reason: 'agent failed (failed)', restored: true })).toBe('n1: ROLLED BACK: agent failed (failed); healthy again on the previous runtime');
    expect(renderOutcome({ node: 'n2', result: 'already', version: '0.1.0' })).toBe('n2: already at 0.1.0');
  });
});
