import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * The agent's control socket: root-only (0600), one JSON request line in, one JSON reply line out.
 * Used by `bulwark status` and other local commands on the node.
 */
export const requestSchema = z.object({ op: z.enum(['status', 'reconcile', 'reload']) });
export type ControlRequest = z.infer<typeof requestSchema>;

const MAX_REQUEST = 64 * 1024;

export function serveControl(path: string, handle: (req: ControlRequest) => Promise<unknown>): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      if (buf.length > MAX_REQUEST) return sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      sock.pause();
      let parsed: ControlRequest;
      try {
        parsed = requestSchema.parse(JSON.parse(line));
      } catch (e) {
        sock.end(JSON.stringify({ error: `bad request: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` }) + '\n');
        return;
      }
      handle(parsed).then(
        (reply) => sock.end(JSON.stringify(reply) + '\n'),
        (e: unknown) => sock.end(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) + '\n'),
      );
    });
  });
  return new Promise((resolve, reject) => {
    const old = process.umask(0o177);
    server.once('error', reject);
    server.listen(path, () => {
      process.umask(old);
      chmodSync(path, 0o600);
      resolve(server);
    });
  });
}

export function askAgent(path: string, req: ControlRequest, timeoutMs = 60_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`agent did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (b: Buffer) => (buf += b.toString('utf8')));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `the agent is not running (${path}): systemctl status bulwark-agent` : e.message));
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf));
      } catch {
        reject(new Error('bad reply from the agent'));
      }
    });
  });
}
