import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderSupervisor, shQuote } from '../../../src/lab/supervisor.js';
import { labPowerOnReset, nspawnArgv } from '../../../src/lab/machine.js';
import { planLab } from '../../../src/lab/topology.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-sup-'));
  dirs.push(d);
  return d;
}

/** A stand-in for systemd-nspawn: exits with the next status from `codes` (one per line) each run. */
function stub(dir: string, codes: number[]): string {
  writeFileSync(join(dir, 'codes'), codes.join('\n') + '\n');
  const p = join(dir, 'fake-nspawn');
  writeFileSync(
    p,
    `#!/bin/sh\necho "run $$ env=$SYSTEMD_NSPAWN_UNIFIED_HIERARCHY args=$*"\nn=$(head -n1 "${dir}/codes"); sed -i 1d "${dir}/codes"\n[ -n "$STOP_AFTER" ] && touch "${dir}/stop"\nexit "$n"\n`,
    { mode: 0o755 },
  );
  return p;
}

describe('lab machine supervisor (a real sh running the rendered script)', () => {
  it('boots again after each guest reboot (exit 133) and ends on power-off (exit 0), cleaning its pid files', () => {
    const d = tmp();
    const script = renderSupervisor({
      machine: 'n9',
      dir: d,
      argv: [stub(d, [133, 133, 0]), '-D', "/with space/it's"],
      env: { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
      preBoot: [['sh', '-c', `echo reset >>${d}/resets`], ['false']],
    });
    writeFileSync(join(d, 'sup.sh'), script);
    execFileSync('/bin/sh', [join(d, 'sup.sh')], { timeout: 10_000 });
    const log = readFileSync(join(d, 'console.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(3);
    for (const l of log) expect(l).toMatch(/^run \d+ env=1 args=-D \/with space\/it's$/);
    // The pid file held the program's own PID (the shell exec'd it), one per boot.
    expect(new Set(log.map((l) => l.split(' ')[1])).size).toBe(3);
    expect(readFileSync(join(d, 'boots'), 'utf8').trim().split('\n')).toHaveLength(3);
    // the power-on reset ran before every boot; a failing step is logged and the machine boots anyway
    expect(readFileSync(join(d, 'resets'), 'utf8')).toBe('reset\nreset\nreset\n');
    expect(readFileSync(join(d, 'supervisor.log'), 'utf8')).toMatch(/pre-boot step failed: false\n.*n9 exited 133\n(.*\n)*.*n9 exited 133\n(.*\n)*.*n9 exited 0\n$/);
    expect(existsSync(join(d, 'pid'))).toBe(false);
    expect(existsSync(join(d, 'supervisor.pid'))).toBe(false);
  });

  it('does not boot again after a reboot once "stop" exists (bulwark lab stop), nor after a crash', () => {
    const d = tmp();
    writeFileSync(join(d, 'sup.sh'), renderSupervisor({ machine: 'n9', dir: d, argv: [stub(d, [133, 133])] }));
    execFileSync('/bin/sh', [join(d, 'sup.sh')], { timeout: 10_000, env: { ...process.env, STOP_AFTER: '1' } });
    expect(readFileSync(join(d, 'boots'), 'utf8').trim().split('\n')).toHaveLength(1);
    const e = tmp();
    writeFileSync(join(e, 'sup.sh'), renderSupervisor({ machine: 'n9', dir: e, argv: [stub(e, [1, 0])] }));
    execFileSync('/bin/sh', [join(e, 'sup.sh')], { timeout: 10_000 });
    expect(readFileSync(join(e, 'supervisor.log'), 'utf8')).toMatch(/n9 exited 1\n$/);
  });

  it('quotes for sh and refuses odd environment names', () => {
    expect(shQuote('--bind=/a/b:/c')).toBe('--bind=/a/b:/c');
    expect(shQuote("a b'c")).toBe(`'a b'\\''c'`);
    expect(() => renderSupervisor({ machine: 'x', dir: '/d', argv: ['true'], env: { 'A;rm': '1' } })).toThrow(/bad environment name/);
  });

  it("runs each machine's nspawn in its namespace, unregistered, with the tun device and NET_ADMIN", () => {
    const plan = planLab(3);
    const argv = nspawnArgv(plan, plan.nodes[1]!);
    expect(argv.slice(0, 6)).toEqual(['systemd-nspawn', '-D', '/var/lib/bwlab/machines/n2/root', '-b', '-M', 'n2']);
    expect(labPowerOnReset(plan.nodes[1]!)).toEqual(['ip', 'netns', 'exec', 'bwlab-n2', 'nft', 'flush', 'ruleset']);
    expect(argv).toEqual(expect.arrayContaining(['--register=no', '--keep-unit', '--network-namespace-path=/run/netns/bwlab-n2', '--bind=/dev/net/tun', '--capability=CAP_NET_ADMIN,CAP_NET_RAW']));
  });
});
