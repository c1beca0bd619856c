import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OUTSIDE_NS, onMachine, runCmd } from './lab.js';

/** What an outside client's call answered (test/system/clients/call.mjs). */
export interface Call {
  ok: boolean;
  result?: unknown;
  error?: string;
  ms: number;
}

/** Calls PROCEDURE on the router at `url` from the outside namespace (certificate `ca` pinned), retrying for up to `untilMs`. */
export async function callFromOutside(url: string, ca: string, procedure: string, args: unknown[], untilMs = 0): Promise<Call> {
  const r = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/call.mjs'), url, ca, 'app', procedure, JSON.stringify(args), String(untilMs)], {
    timeoutMs: untilMs + 30_000,
  });
  // autobahn-js logs to stdout too; the client's verdict is the one line of JSON starting {"ok".
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"ok"'));
  return JSON.parse(line ?? `{"ok":false,"error":${JSON.stringify(r.stdout + r.stderr)},"ms":0}`) as Call;
}

/**
 * Python run inside an app container (podman exec -i NAME python3 -): its interfaces, whether it reaches an
 * outside address, its effective capabilities and uid, whether its root is writable.
 */
export const ISOLATION_PROBE = [
  'import socket, re, os',
  'print([n for _, n in socket.if_nameindex()])',
  'try:\n    socket.create_connection(("192.0.2.1", 443), timeout=2); print("connected")\nexcept OSError:\n    print("failed")',
  'print(re.search(r"CapEff:\\s*(\\S+)", open("/proc/self/status").read()).group(1), os.getuid() != 0)',
  'try:\n    open("/x", "w"); print("wrote")\nexcept OSError as e:\n    print("ro", e.errno)',
].join('\n');

/** The probe's lines for an isolated app: only lo, nothing reached, no capabilities and not root, a read-only root (EROFS). */
export const ISOLATED = ["['lo']", 'failed', '0000000000000000 True', 'ro 30'];

/** How an outside client trusts node `node`: the lab CA's root and the node's lab name with `acme:`, else its own certificate pinned. */
export async function outsideTrust(node: { name: string }, labConfig: string, acmeRoot: string | undefined, scratchDir: string): Promise<{ root: string; name: string }> {
  if (readFileSync(labConfig, 'utf8').includes('\nacme:') && acmeRoot) return { root: acmeRoot, name: `${node.name}.lab.bulwark.test` };
  const root = join(scratchDir, `${node.name}-cert.pem`);
  writeFileSync(root, (await onMachine(node.name, 'cat /var/lib/bulwark/router/tls/cert.pem')).stdout);
  return { root, name: '-' };
}

/** One line test/system/clients/acme-session.mjs printed. */
export interface SessionLine {
  open?: boolean;
  call?: 'result' | 'error';
  procedure?: string;
  result?: unknown;
  error?: string;
  subscribed?: string | false;
  event?: string;
  args?: unknown[];
  publisher?: string | null;
  at: number;
}

/**
 * A long-lived WAMP session from the outside namespace through one node (autobahn-js over wss,
 * test/system/clients/acme-session.mjs): commands go in as lines, everything it prints is kept.
 */
export class OutsideSession {
  readonly lines: SessionLine[] = [];
  private readonly child: ChildProcess;
  private buf = '';
  exited = false;

  constructor(url: string, trust: { root: string; name: string }) {
    this.child = spawn('ip', ['netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/acme-session.mjs'), url, trust.root, trust.name, 'app'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString();
      const parts = this.buf.split('\n');
      this.buf = parts.pop() ?? '';
      for (const l of parts) if (l.startsWith('{')) this.lines.push(JSON.parse(l) as SessionLine);
    });
    this.child.on('exit', () => (this.exited = true));
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** The first line from index `from` on that `pred` accepts, waiting up to `ms`. */
  async next(pred: (l: SessionLine) => boolean, ms: number, from = 0): Promise<SessionLine> {
    const t0 = Date.now();
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit) return hit;
      if (this.exited || Date.now() - t0 > ms) throw new Error(`no such line within ${ms} ms; got: ${JSON.stringify(this.lines.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** One call over this session: its answer line. */
  async call(procedure: string, args: unknown[] = [], ms = 15_000): Promise<SessionLine> {
    const from = this.lines.length;
    this.send(`call ${procedure} ${JSON.stringify(args)}`);
    return this.next((l) => l.call !== undefined && l.procedure === procedure, ms, from);
  }

  close(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/**
 * Calls PROCEDURE through node `node`'s router from the outside namespace (trust as outsideTrust), a new
 * session per attempt, retrying for up to `untilMs` until it answers with a result (0: one attempt).
 */
export async function callThroughNode(
  node: { name: string; pub: string },
  procedure: string,
  args: unknown[],
  untilMs: number,
  labConfig: string,
  acmeRoot: string | undefined,
  scratchDir: string,
): Promise<Call> {
  const trust = await outsideTrust(node, labConfig, acmeRoot, scratchDir);
  const t0 = Date.now();
  for (;;) {
    let last: string;
    const r = await runCmd(['ip', 'netns', 'exec', OUTSIDE_NS, 'node', resolve('test/system/clients/acme-session.mjs'), `wss://${node.pub}/`, trust.root, trust.name, 'app'], {
      stdin: `call ${procedure} ${JSON.stringify(args)}\n`,
      timeoutMs: 20_000,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{"call"'));
    if (line) {
      const c = JSON.parse(line) as SessionLine;
      if (c.call === 'result') return { ok: true, result: c.result, ms: Date.now() - t0 };
      last = c.error ?? '';
    } else last = (r.stdout + r.stderr).slice(-300);
    if (Date.now() - t0 >= untilMs) return { ok: false, error: last, ms: Date.now() - t0 };
    await new Promise((res) => setTimeout(res, 1000));
  }
}
