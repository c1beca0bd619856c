import { connect, type Socket } from 'node:net';

/** A bare TCP/Unix client for protocol-level tests: write bytes, collect what comes back until close. */
export function exchange(target: { port?: number; path?: string }, bytes: Buffer, opts: { end?: boolean; timeoutMs?: number } = {}): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = target.path ? connect(target.path) : connect(target.port!, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const t = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      s.write(bytes);
      if (opts.end) s.end();
    });
  });
}

export function frame(payload: Buffer | string, type = 0): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUIntBE(p.length, 1, 3);
  return Buffer.concat([h, p]);
}

export const handshake = (ser = 1, exp = 15) => Buffer.from([0x7f, (exp << 4) | ser, 0, 0]);
