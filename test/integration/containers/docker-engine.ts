import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, type ExecResult } from '../../../src/util/exec.js';

/**
 * A private Docker engine for the container tests: Debian's dockerd (docker.io) on this host with its own
 * socket, data root, exec root and pidfile, and none of its networking (no iptables rules, no bridge), so
 * it changes nothing outside the test. It runs in a mount namespace of its own (`unshare --mount`, not a
 * network namespace: dockerd needs the host's cgroup mounts), where /run/systemd/journal is a directory
 * of the test: a small journal receiver listens there, so the app's real `--log-driver journald` works on
 * a build host without systemd as PID 1 and the test reads what the container logged.
 */
export const TEST_DOCKER_SOCKET = '/run/bulwark-test-docker.sock';
const EXEC_ROOT = '/run/bulwark-test-docker';
const PIDFILE = '/run/bulwark-test-docker.pid';
export const DOCKER = '/usr/bin/docker';

/** Receives journald's native protocol (KEY=value lines; KEY\n<u64 LE length><bytes>\n for binary values) and writes one JSON object per entry. */
const JOURNAL_RECEIVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
print("ready", flush=True)
while True:
    d = s.recv(1 << 20)
    e, i = {}, 0
    while i < len(d):
        nl = d.find(b"\\n", i)
        if nl < 0:
            break
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", d[nl + 1:nl + 9])
            v = d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        e[k.decode()] = v.decode("utf-8", "replace")
    out.write(json.dumps(e) + "\\n")
`;

export interface DockerEngine {
  env: NodeJS.ProcessEnv;
  /** Runs the docker client against this engine. */
  docker(args: string[], opts?: { stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Entries the engine's journald log driver sent, parsed. */
  journal(): Record<string, string>[];
  log(): string;
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function startDockerEngine(work: string, say: (m: string) => void = () => undefined): Promise<DockerEngine> {
  const runSystemd = join(work, 'run-systemd');
  mkdirSync(join(runSystemd, 'journal'), { recursive: true });
  const journalFile = join(work, 'journal.jsonl');
  const receiver = spawn('/usr/bin/python3', ['-c', JOURNAL_RECEIVER, join(runSystemd, 'journal/socket'), journalFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    receiver.once('error', reject);
    receiver.once('exit', (c) => reject(new Error(`journal receiver exited ${c}`)));
    receiver.stdout?.once('data', () => resolve());
  });
  // A stale engine of an interrupted run would hold the socket: refuse rather than share it.
  if (existsSync(PIDFILE)) {
    const pid = Number(readFileSync(PIDFILE, 'utf8'));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* gone */
    }
    if (alive) throw new Error(`a test dockerd (pid ${pid}) is still running from an earlier run; stop it first`);
    rmSync(PIDFILE, { force: true });
  }
  rmSync(TEST_DOCKER_SOCKET, { force: true });
  // dockerd always makes /run/docker/plugins, whatever its exec root: removed afterwards if it was not there.
  const hadRunDocker = existsSync('/run/docker');
  // The mount point for the journal directory (present on Debian even without systemd as PID 1).
  const hadRunSystemd = existsSync('/run/systemd');
  if (!hadRunSystemd) mkdirSync('/run/systemd', { mode: 0o755 });
  const dockerd = [
    'dockerd',
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--ip-forward=false',
    '--ip-masq=false',
    '--host',
    `unix://${TEST_DOCKER_SOCKET}`,
    '--data-root',
    join(work, 'docker-data'),
    '--exec-root',
    EXEC_ROOT,
    '--pidfile',
    PIDFILE,
    '--containerd-namespace',
    'bulwark-test',
    '--containerd-plugins-namespace',
    'bulwark-test-plugins',
  ];
  say(`dockerd ${dockerd.slice(1).join(' ')}`);
  const engine = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /run/systemd && exec "$@"', runSystemd, ...dockerd], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  engine.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-200_000);
  });
  const env = { ...process.env, DOCKER_HOST: `unix://${TEST_DOCKER_SOCKET}`, DOCKER_CONFIG: join(work, 'docker-client') };
  const docker = (args: string[], opts: { stdin?: string; timeoutMs?: number } = {}) => run([DOCKER, ...args], { env, stdin: opts.stdin, timeoutMs: opts.timeoutMs ?? 120_000 });
  const stop = async () => {
    if (engine.exitCode === null && engine.signalCode === null) {
      engine.kill('SIGTERM');
      if (!(await waitExit(engine, 30_000))) {
        engine.kill('SIGKILL');
        await waitExit(engine, 5_000);
      }
    }
    receiver.kill('SIGTERM');
    await waitExit(receiver, 5_000);
    rmSync(TEST_DOCKER_SOCKET, { force: true });
    rmSync(PIDFILE, { force: true });
    rmSync(EXEC_ROOT, { recursive: true, force: true });
    for (const d of [...(hadRunDocker ? [] : ['/run/docker/plugins', '/run/docker']), ...(hadRunSystemd ? [] : ['/run/systemd'])]) {
      try {
        rmdirSync(d);
      } catch {
        /* not empty: something else uses it */
      }
    }
  };
  const t0 = Date.now();
  for (;;) {
    if (engine.exitCode !== null) {
      await stop();
      throw new Error(`dockerd exited ${engine.exitCode}:\n${log.slice(-3000)}`);
    }
    if ((await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 })).code === 0) break;
    if (Date.now() - t0 > 60_000) {
      await stop();
      throw new Error(`dockerd did not answer within 60 s:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  say(`dockerd up after ${Date.now() - t0} ms`);
  return {
    env,
    docker,
    journal: () =>
      existsSync(journalFile)
        ? readFileSync(journalFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, string>)
        : [],
    log: () => log,
    stop,
  };
}
