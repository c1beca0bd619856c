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

  // Every command, and every subcommand that takes options, rejects an option it doesn't know before doing
  // anything, names it, and exits 2.
  const BOGUS: string[][] = [
    ...Object.keys(COMMANDS).map((name) => [name, '--bogus']),
    ['validate', '--json', '--bogus'],
    ['status', 'n1', '--bogus'],
    ['audit', '--all', '--bogus'],
    ['agent', 'reload', '--bogus'],
    ['mesh', 'status', '--bogus'],
    ['mesh', 'facts', '--bogus'],
    ['mesh', 'join', 'n1', '--bogus'],
    ['mesh', 'remove', 'n1', '--bogus'],
    ['keys', 'rotate', '--psk', '--bogus'],
    ['firewall', 'plan', '--bogus'],
    ['firewall', 'apply', 'n1', '--bogus'],
    ['lab', 'up', '--bogus'],
    ['lab', 'status', '--bogus'],
    ['lab', 'reboot', 'n2', '--bogus'],
    ['app', 'list', '--bogus'],
    ['router', 'hash-ticket', '--bogus'],
    ['integrity', 'check', '--bogus'],
  ];
  it.concurrent.each(BOGUS)('%s %s %s %s: an unknown option exits 2 and is named', async (...argv) => {
    const r = await bulwark(argv, { config: join(dir, 'bulwark.yaml') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bogus');
    expect(r.stdout).toBe('');
  });

  it('lab stop|start|reboot: no machine named, or one the lab does not have, is a usage error (exit 2) naming it', async () => {
    const none = await bulwark(['lab', 'stop'], { config: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('name the machine(s)');
    // A lab prefix nobody uses: its state directory does not exist.
    const unknown = await bulwark(['lab', 'reboot', 'n9', '--prefix', 'bwtnone'], { config: '' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown lab machine "n9": the lab is not up');
    const help = await bulwark(['lab', '--help'], { config: '' });
    expect(help.stdout).toMatch(/stop NODE .*power the machine off/);
    expect(help.stdout).toMatch(/reboot NODE .*reboot it from inside/);
  });

  it('global options work after the command: validate -c FILE checks FILE, not ./bulwark.yaml', async () => {
    const good = join(dir, 'bulwark.yaml');
    const ok = await bulwark(['validate', '-c', good], { config: '' });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${good}: ok`);
    const typo = await bulwark(['validate', '--config', join(dir, 'typo.yaml'), '--json'], { config: good });
    expect(typo.code).toBe(2);
    expect(JSON.parse(typo.stdout)).toMatchObject({ ok: false, file: join(dir, 'typo.yaml') });
  });

  it('status --json -c FILE reads FILE (a missing one is a config error naming it, exit 2)', async () => {
    const r = await bulwark(['status', '--json', '-c', join(dir, 'x.yaml')], { config: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'x.yaml')}:0:0: (document): no such file`);
  });

  it('an unknown node is a usage error (exit 2) for every command that takes one', async () => {
    const cfg = { config: join(dir, 'bulwark.yaml') };
    const cases = [
      ['mesh', 'remove', 'n9'],
      ['mesh', 'join', 'n9'],
      ['status', 'n9'],
      ['audit', 'n9'],
      ['firewall', 'plan', 'n9'],
      ['bootstrap', 'n9'],
      ['app', 'list', '--node', 'n9'],
      ['keys', 'rotate', '--wireguard', '--node', 'n9'],
    ];
    const runs = await Promise.all(cases.map((argv) => bulwark(argv, cfg)));
    runs.forEach((r, i) => {
      expect({ argv: cases[i], code: r.code }).toEqual({ argv: cases[i], code: 2 });
      expect(r.stderr).toContain('unknown node: n9 (config has n1, n2, n3)');
    });
    const both = await bulwark(['audit', 'n1', '--all'], cfg);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give node names or --all, not both');
  });
});
