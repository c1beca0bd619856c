import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodmanEnv } from '../../../src/containers/podman.js';

/**
 * podman settings for the container tests on this build host (Debian 12, hybrid cgroups, no systemd
 * as PID 1, no CAP_SYS_RESOURCE): runc with cgroupfs (crun refuses hybrid cgroups), explicit ulimits,
 * file events, and a storage of its own so the tests never touch the host's images. Test-only: a node
 * uses the system's /etc/containers (lab machines: see src/containers/README.md).
 */
export const TEST_PODMAN_DIR = '/var/tmp/bulwark-test-podman';

/** Test files run in parallel: write only when different, and atomically (a reader never sees a half file). */
function put(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function testPodmanEnv(): PodmanEnv {
  mkdirSync(TEST_PODMAN_DIR, { recursive: true });
  const containersConf = join(TEST_PODMAN_DIR, 'containers.conf');
  const storageConf = join(TEST_PODMAN_DIR, 'storage.conf');
  put(
    containersConf,
    [
      '[containers]',
      'cgroups = "enabled"',
      'keyring = false',
      'default_sysctls = []',
      'default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${TEST_PODMAN_DIR}/tmp"`,
      '',
    ].join('\n'),
  );
  put(storageConf, ['[storage]', 'driver = "overlay"', `runroot = "${TEST_PODMAN_DIR}/run"`, `graphroot = "${TEST_PODMAN_DIR}/graph"`, ''].join('\n'));
  return { containersConf, storageConf };
}

export function podmanEnvVars(env: PodmanEnv): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF: env.containersConf, CONTAINERS_STORAGE_CONF: env.storageConf };
}
