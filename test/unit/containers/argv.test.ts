import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dockerAppArgv, execLine, podmanAppArgv, podmanRouterArgv, type AppRunParams } from '../../../src/containers/argv.js';
import { splitExecLine } from '../../../src/systemd/units.js';

const app: AppRunParams = { name: 'billing', image: 'localhost/billing:1', uid: '60501:60501', memory: '256m', cpus: '0.5', pids: '128', realm: 'realm1' };

/** Value following a flag (the flag must appear exactly once). */
function flag(argv: string[], name: string): string | undefined {
  const idx = argv.flatMap((a, i) => (a === name ? [i] : []));
  expect(idx, `${name} once`).toHaveLength(1);
  return argv[(idx[0] ?? 0) + 1];
}

describe('podman app argv', () => {
  const argv = podmanAppArgv(app);
  it('isolates: no network, read-only root, no capabilities, no-new-privileges, non-root user', () => {
    expect(flag(argv, '--network')).toBe('none');
    expect(argv).toContain('--read-only');
    expect(argv).toContain('--read-only-tmpfs=false');
    expect(flag(argv, '--cap-drop')).toBe('ALL');
    expect(argv).not.toContain('--cap-add');
    expect(argv).not.toContain('--privileged');
    expect(flag(argv, '--security-opt')).toBe('no-new-privileges');
    expect(flag(argv, '--user')).toBe('60501:60501');
  });
  it('limits memory (no extra swap), CPU and pids', () => {
    expect(flag(argv, '--memory')).toBe('256m');
    expect(flag(argv, '--memory-swap')).toBe('256m');
    expect(flag(argv, '--cpus')).toBe('0.5');
    expect(flag(argv, '--pids-limit')).toBe('128');
  });
  it('mounts only the component socket directory, plus a small noexec tmpfs', () => {
    expect(argv.filter((a) => a === '--volume' || a === '-v' || a === '--mount')).toHaveLength(1);
    expect(flag(argv, '--volume')).toBe('/run/bulwark/components/billing:/run/wamp:rw,nosuid,nodev,noexec');
    expect(flag(argv, '--tmpfs')).toMatch(/^\/tmp:.*noexec.*size=16m/);
  });
  it('is named, replaces a stale container, removes itself, notifies via conmon, logs to the unit', () => {
    expect(flag(argv, '--name')).toBe('bulwark-app-billing');
    for (const f of ['--rm', '--replace', '--detach', '--sdnotify=conmon']) expect(argv).toContain(f);
    expect(flag(argv, '--log-driver')).toBe('passthrough');
    expect(flag(argv, '--pull')).toBe('never');
    expect(argv.at(-1)).toBe('localhost/billing:1');
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/podman', 'run']);
  });
  it('tells the component where its socket and realm are', () => {
    expect(argv).toContain('BULWARK_WAMP_SOCKET=/run/wamp/router.sock');
    expect(argv).toContain('BULWARK_WAMP_REALM=realm1');
  });
  it('puts extra flags before the image', () => {
    const a = podmanAppArgv({ ...app, extra: ['--ulimit', 'nofile=1024:1024'] });
    expect(a.slice(-3)).toEqual(['--ulimit', 'nofile=1024:1024', 'localhost/billing:1']);
  });
});

describe('docker app argv', () => {
  const argv = dockerAppArgv(app);
  it('has the same isolation and limits as podman', () => {
    expect(flag(argv, '--network')).toBe('none');
    expect(argv).toContain('--read-only');
    expect(flag(argv, '--cap-drop')).toBe('ALL');
    expect(flag(argv, '--security-opt')).toBe('no-new-privileges');
    expect(flag(argv, '--user')).toBe('60501:60501');
    expect(flag(argv, '--memory')).toBe('256m');
    expect(flag(argv, '--pids-limit')).toBe('128');
    expect(flag(argv, '--volume')).toBe('/run/bulwark/components/billing:/run/wamp:rw');
  });
  it('runs in the foreground with --rm and journald logging (Docker has no sd_notify)', () => {
    expect(argv).toContain('--rm');
    expect(argv).not.toContain('--detach');
    expect(argv).not.toContain('-d');
    expect(flag(argv, '--log-driver')).toBe('journald');
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/docker', 'run']);
  });
});

describe('router argv', () => {
  const argv = podmanRouterArgv({ image: 'sha256:abc', user: '60500:60500', memory: '512m', pids: '256', command: ['router', '--config', '/etc/bulwark/bulwark.yaml'] });
  it('runs without network, read-only, without capabilities, as non-root', () => {
    expect(flag(argv, '--network')).toBe('none');
    expect(argv).toContain('--read-only');
    expect(flag(argv, '--cap-drop')).toBe('ALL');
    expect(flag(argv, '--security-opt')).toBe('no-new-privileges');
    expect(flag(argv, '--user')).toBe('60500:60500');
    expect(argv).not.toContain('--publish');
    expect(argv).not.toContain('-p');
  });
  it('sees every component directory (rw) its config and principals store (ro), its enrolment directory (rw), the fabric socket directory (ro), nothing else', () => {
    const vols = argv.flatMap((a, i) => (a === '--volume' ? [argv[i + 1]] : []));
    expect(vols).toEqual([
      '/run/bulwark/components:/run/bulwark/components:rw,nosuid,nodev,noexec',
      '/etc/bulwark:/etc/bulwark:ro,nosuid,nodev,noexec',
      '/var/lib/bulwark/router:/var/lib/bulwark/router:ro,nosuid,nodev,noexec',
      '/var/lib/bulwark/principals:/var/lib/bulwark/principals:ro,nosuid,nodev,noexec',
      '/var/lib/bulwark/enrolments:/var/lib/bulwark/enrolments:rw,nosuid,nodev,noexec',
      '/run/bulwark/fabric:/run/bulwark/fabric:ro,nosuid,nodev,noexec',
    ]);
  });
  it('passes the command after the image', () => {
    expect(argv.slice(-4)).toEqual(['sha256:abc', 'router', '--config', '/etc/bulwark/bulwark.yaml']);
  });
});

describe('execLine', () => {
  it('round-trips through the unit-file word splitter', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ minLength: 1 }).filter((s) => !/[\n\r\0]/.test(s) && s.trim() === s && !/^[-@:+!]/.test(s)),
          { minLength: 1, maxLength: 8 },
        ),
        (words) => {
          expect(splitExecLine(execLine(words))).toEqual(words);
        },
      ),
    );
  });
  it('keeps systemd variables and specifiers bare', () => {
    expect(execLine(['--user', '${UID}:${UID}', '$EXTRA', '%i'])).toBe('--user ${UID}:${UID} $EXTRA %i');
  });
});
