import { connect as netConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { cbor } from '../src/router/wamp/serializers.js';

/**
 * A minimal WAMP client for the router benchmark (CBOR over RawSocket on a Unix socket, or over
 * WebSocket-TLS): just enough for HELLO, REGISTER/YIELD, CALL, SUBSCRIBE and PUBLISH without any
 * client-library overhead, so the figures are the router's.
 */
export type Handler = (msg: unknown[]) => void;

export interface BenchClient {
  send(msg: unknown[]): void;
  onMessage: Handler;
  close(): void;
  ready: Promise<number>;
}

const HELLO = [1, 'app', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} }, authmethods: ['anonymous'] }];

function attach(c: BenchClient, resolveReady: (id: number) => void, rejectReady: (e: Error) => void): Handler {
  let open = false;
  return (msg) => {
    if (!open) {
      if (msg[0] === 2) {
        open = true;
        resolveReady(msg[1] as number);
      } else rejectReady(new Error(`no WELCOME: ${JSON.stringify(msg)}`));
      return;
    }
    c.onMessage(msg);
  };
}

export function rawsocketClient(path: string): BenchClient {
  const s: Socket = netConnect(path);
  let buf: Buffer = Buffer.alloc(0);
  let handshaken = false;
  let resolveReady!: (id: number) => void;
  let rejectReady!: (e: Error) => void;
  const c: BenchClient = {
    onMessage: () => undefined,
    send(msg) {
      const p = cbor.encode(msg);
      const h = Buffer.allocUnsafe(4);
      h[0] = 0;
      h.writeUIntBE(p.length, 1, 3);
      s.write(Buffer.concat([h, p]));
    },
    close: () => s.destroy(),
    ready: new Promise<number>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    }),
  };
  const dispatch = attach(c, resolveReady, rejectReady);
  s.setNoDelay(true);
  s.on('error', (e) => rejectReady(e));
  s.on('connect', () => s.write(Buffer.from([0x7f, 0xf3, 0, 0])));
  s.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (!handshaken) {
      if (buf.length < 4) return;
      handshaken = true;
      buf = buf.subarray(4);
      c.send(HELLO);
    }
    // what this chunk makes us send (a callee's YIELDs, PONGs) leaves in one write, as the echo server's does
    s.cork();
    while (buf.length >= 4) {
      const len = buf.readUIntBE(1, 3);
      if (buf.length < 4 + len) break;
      const type = buf[0]! & 7;
      const payload = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      if (type === 1) {
        const h = Buffer.from([2, 0, 0, 0]);
        h.writeUIntBE(payload.length, 1, 3);
        s.write(Buffer.concat([h, payload]));
      } else if (type === 0) dispatch(cbor.decode(payload) as unknown[]);
    }
    s.uncork();
  });
  return c;
}

/**
 * corkPerTick: what one event-loop pass sends leaves in one TLS record and socket write (the callee's
 * YIELDs for a batch of INVOCATIONs, as the RawSocket callee corks per read); otherwise one per message.
 */
export function websocketClient(url: string, ca: Buffer, opts: { corkPerTick?: boolean } = {}): BenchClient {
  const ws = new WebSocket(url, ['wamp.2.cbor'], { ca, perMessageDeflate: false });
  let resolveReady!: (id: number) => void;
  let rejectReady!: (e: Error) => void;
  let corked = false;
  const c: BenchClient = {
    onMessage: () => undefined,
    send: (msg) => {
      if (opts.corkPerTick && !corked) {
        // ws keeps its socket private; the bench reaches in to cork it for one pass
        const sock = (ws as unknown as { _socket: Socket })._socket;
        corked = true;
        sock.cork();
        setImmediate(() => {
          corked = false;
          sock.uncork();
        });
      }
      ws.send(cbor.encode(msg));
    },
    close: () => ws.terminate(),
    ready: new Promise<number>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    }),
  };
  const dispatch = attach(c, resolveReady, rejectReady);
  ws.on('open', () => c.send(HELLO));
  ws.on('error', (e) => rejectReady(e));
  ws.on('message', (d: Buffer) => dispatch(cbor.decode(d) as unknown[]));
  return c;
}

/** A callee answering `proc` with its first argument; resolves once registered. */
export async function echoCallee(c: BenchClient, proc: string): Promise<void> {
  await c.ready;
  await new Promise<void>((resolve) => {
    c.onMessage = (m) => {
      if (m[0] === 65) resolve();
      else if (m[0] === 68) c.send([70, m[1], {}, m[4] ?? []]);
    };
    c.send([64, 1, {}, proc]);
  });
}

/** Caller helper: call(args) → promise of the RESULT. */
export function caller(c: BenchClient): (proc: string, args: unknown[]) => Promise<unknown[]> {
  let next = 1;
  const pending = new Map<number, (m: unknown[]) => void>();
  c.onMessage = (m) => {
    if (m[0] === 50 || m[0] === 8) {
      const id = (m[0] === 50 ? m[1] : m[2]) as number;
      pending.get(id)?.(m);
      pending.delete(id);
    }
  };
  return (proc, args) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      c.send([48, id, {}, proc, args]);
    });
}
