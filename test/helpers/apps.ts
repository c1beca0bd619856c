import { resolve } from 'node:path';
import { OUTSIDE_NS, runCmd } from './lab.js';

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
