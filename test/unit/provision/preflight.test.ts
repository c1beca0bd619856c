import { describe, expect, it } from 'vitest';
import { loadDistros, parsePackageList, packagesFor } from '../../../src/config/distros.js';
import { evaluatePreflight, parseFacts } from '../../../src/provision/preflight.js';

const distros = loadDistros();
const facts = (o: Record<string, string>) =>
  parseFacts(
    Object.entries({ id: 'debian', version: '12', pretty: 'Debian GNU/Linux 12 (bookworm)', pid1: 'systemd', uid: '0', arch: 'x86_64', free_mib: '5000', ...o })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );

describe('preflight', () => {
  it.each([
    ['debian', '12'],
    ['debian', '13'],
    ['ubuntu', '22.04'],
    ['ubuntu', '24.04'],
  ])('accepts %s %s', (id, version) => {
    const r = evaluatePreflight(facts({ id, version }), distros, 1024);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.arch).toBe('x64');
    expect(packagesFor(r.distro!)).toContain('nftables');
  });

  it.each([
    ['ubuntu', '20.04', 'Ubuntu 20.04.6 LTS'],
    ['debian', '11', 'Debian GNU/Linux 11 (bullseye)'],
    ['fedora', '40', 'Fedora Linux 40'],
  ])('refuses %s %s by name and version', (id, version, pretty) => {
    const r = evaluatePreflight(facts({ id, version, pretty }), distros, 1024);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toBe(`unsupported distribution "${pretty}" (${id} ${version}); supported: debian 12, debian 13, ubuntu 22.04, ubuntu 24.04`);
  });

  it('refuses a box without systemd as PID 1, without root, of an unknown architecture or short of disk', () => {
    const r = evaluatePreflight(facts({ pid1: 'init', uid: '1000', arch: 'riscv64', free_mib: '100' }), distros, 1024);
    expect(r.problems).toEqual([
      'PID 1 is "init", not systemd',
      'not root: log in as root or give the SSH user passwordless sudo',
      'unsupported architecture riscv64',
      'only 100 MiB free on /, need 1024 MiB',
    ]);
  });

  it('reads package lists without comments and blanks; Ubuntu needs no userspace WireGuard', () => {
    expect(parsePackageList('# c\nnftables\n\n  podman # x\n')).toEqual(['nftables', 'podman']);
    const ubuntu = distros.supported.find((d) => d.id === 'ubuntu')!;
    expect(packagesFor(ubuntu)).not.toContain('wireguard-go');
    const debian = distros.supported.find((d) => d.id === 'debian')!;
    expect(packagesFor(debian)).toContain('wireguard-go');
  });
});

import { safeDebName } from '../../../src/provision/bundle.js';
describe('offline bundle file names', () => {
  it('turns an epoch colon and anything odd into plain characters', () => {
    expect(safeDebName('iputils-ping_3%3a20221126-1+deb12u1_amd64.deb')).toBe('iputils-ping_3_20221126-1+deb12u1_amd64.deb');
    expect(safeDebName('a b$c.deb')).toBe('a_b_c.deb');
  });
});
