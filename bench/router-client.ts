import { connect as netConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { cbor } from '../src/router/wamp/serializers.js';
import { afterHead, argumentAt, cborItemEnd } from '../src/router/wamp/cbor-walk.js';

/**
 * A minimal WAMP client for the router benchmark (CBOR over RawSocket on a Unix socket, or over
 * WebSocket-TLS): just enough for HELLO, REGISTER/YIELD, CALL, SUBSCRIBE and PUBLISH without any
 * client-library overhead, so the figures are the router's.
 */
export type Handler = (msg: unknown[]) => void;

export interface BenchClient {
  send(msg: unknown[]): void;
  /** Sends one WAMP message the caller encoded (RawSocket adds the frame header). */
  sendEncoded(payload: Buffer): void;
  onMessage: Handler;
  /** Sees each message's bytes first; true means handled (then it is not decoded for onMessage). */
  onEncoded?: (payload: Buffer) => boolean;
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

export function rawsocketClient(path: string): BenchClient & { sendFrames(b: Buffer): void } {
  const s: Socket = netConnect(path);
  const write = (b: Buffer) => s.write(b);
  let buf: Buffer = Buffer.alloc(0);
  let handshaken = false;
  let resolveReady!: (id: number) => void;
  let rejectReady!: (e: Error) => void;
  const c: BenchClient & { sendFrames(b: Buffer): void } = {
    onMessage: () => undefined,
    send(msg) {
      c.sendEncoded(cbor.encode(msg));
    },
    /** Whole RawSocket frames (headers included). */
    sendFrames: (b) => write(b),
    sendEncoded(p) {
      const h = Buffer.allocUnsafe(4);
      h[0] = 0;
      h.writeUIntBE(p.length, 1, 3);
      write(Buffer.concat([h, p]));
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
        write(Buffer.concat([h, payload]));
      } else if (type === 0 && !c.onEncoded?.(payload)) dispatch(cbor.decode(payload) as unknown[]);
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
    send: (msg) => c.sendEncoded(cbor.encode(msg)),
    sendEncoded: (payload) => {
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
      ws.send(payload);
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
  ws.on('message', (d: Buffer) => {
    if (!c.onEncoded?.(d)) dispatch(cbor.decode(d) as unknown[]);
  });
  return c;
}

// The load generators below do what the baselines' clients do, so a ratio measures the router: the echo
// client sends a frame encoded once and decodes every reply, and the echo server sends bytes back
// unread; the WAMP caller sends a CALL encoded once with its request ID patched in and decodes every
// RESULT, and the callee answers each INVOCATION with a YIELD that carries the invocation's payload
// bytes back unread. The publisher likewise sends PUBLISH frames encoded once, in 64 KiB writes (as the
// nats client batches its writes), and subscribers count EVENTs by their type code (as the nats client
// hands a subscriber the payload bytes undecoded).

const T_EVENT = 36;
const T_INVOCATION = 68;
const T_YIELD = 70;

/** A message encoded once with a 4-byte integer slot at `slot` for a request ID. */
function template(type: number, rest: Buffer[]): { bytes: Buffer; slot: number } {
  const code = type < 24 ? [type] : [0x18, type];
  return { bytes: Buffer.concat([Buffer.from([0x80 | (2 + rest.length), ...code, 0x1a, 0, 0, 0, 0]), ...rest]), slot: 2 + code.length };
}

/** The YIELD for an INVOCATION's bytes, with the invocation's payload (args, kwargs) copied unread; undefined if not an INVOCATION. */
export function yieldFor(inv: Buffer): Buffer | undefined {
  if (inv[1] !== 0x18 || inv[2] !== T_INVOCATION) return undefined;
  const items = (inv[0]! & 0x1f) - 4; // [68, request, registration, details, args?, kwargs?]
  argumentAt(inv, 3);
  const idEnd = afterHead();
  const payloadStart = cborItemEnd(inv, cborItemEnd(inv, idEnd));
  if (payloadStart < 0) return undefined;
  const out = Buffer.allocUnsafe(3 + (idEnd - 3) + 1 + (inv.length - payloadStart));
  out[0] = 0x80 | (3 + items);
  out[1] = 0x18;
  out[2] = T_YIELD;
  let pos = 3 + inv.copy(out, 3, 3, idEnd);
  out[pos++] = 0xa0;
  inv.copy(out, pos, payloadStart);
  return out;
}

/** A callee answering `proc` with the payload it was called with; resolves once registered. */
export async function echoCallee(c: BenchClient, proc: string): Promise<void> {
  await c.ready;
  c.onEncoded = (b) => {
    const y = yieldFor(b);
    if (y) c.sendEncoded(y);
    return y !== undefined;
  };
  await new Promise<void>((resolve) => {
    c.onMessage = (m) => {
      if (m[0] === 65) resolve();
    };
    c.send([64, 1, {}, proc]);
  });
}

/** Caller helper: call() → promise of the RESULT (decoded); an ERROR rejects it (the bench then fails). */
export function caller(c: BenchClient, proc: string, args: unknown[]): () => Promise<unknown[]> {
  let next = 1;
  const pending = new Map<number, { resolve: (m: unknown[]) => void; reject: (e: Error) => void }>();
  c.onMessage = (m) => {
    if (m[0] === 50 || m[0] === 8) {
      const id = (m[0] === 50 ? m[1] : m[2]) as number;
      const p = pending.get(id);
      pending.delete(id);
      if (m[0] === 50) p?.resolve(m);
      else p?.reject(new Error(`call ${id} failed: ${String(m[4])} ${JSON.stringify(m[5] ?? [])}`));
    }
  };
  const t = template(48, [Buffer.from([0xa0]), cbor.encode(proc), cbor.encode(args)]);
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      const b = Buffer.from(t.bytes);
      b.writeUInt32BE(id, t.slot);
      c.sendEncoded(b);
    });
}

/** Publishes `n` events to `topic` from frames encoded once (request IDs patched in), 64 KiB per socket write. */
export function publishMany(c: BenchClient & { sendFrames(b: Buffer): void }, topic: string, args: unknown[], n: number): void {
  const t = template(16, [Buffer.from([0xa0]), cbor.encode(topic), cbor.encode(args)]);
  const frameLen = 4 + t.bytes.length;
  const perWrite = Math.max(1, Math.floor(65536 / frameLen));
  for (let i = 0; i < n; ) {
    const k = Math.min(perWrite, n - i);
    const out = Buffer.allocUnsafe(k * frameLen);
    for (let j = 0; j < k; j++, i++) {
      const at = j * frameLen;
      out[at] = 0;
      out.writeUIntBE(t.bytes.length, at + 1, 3);
      t.bytes.copy(out, at + 4);
      out.writeUInt32BE(i + 1, at + 4 + t.slot);
    }
    c.sendFrames(out);
  }
}

/**
 * The same over WebSocket: PUBLISH messages encoded once (request IDs patched in), sent with the
 * client corked per pass (a WebSocket client created with corkPerTick), so each pass's batch of 256
 * leaves in one TLS write, as the nats client batches its writes.
 */
export async function publishManyWs(c: BenchClient, topic: string, args: unknown[], n: number): Promise<void> {
  const t = template(16, [Buffer.from([0xa0]), cbor.encode(topic), cbor.encode(args)]);
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + 256); i < end; i++) {
      const b = Buffer.from(t.bytes);
      b.writeUInt32BE(i + 1, t.slot);
      c.sendEncoded(b);
    }
    await new Promise((r) => setImmediate(r));
  }
}

/** Counts EVENTs by their type code, without decoding them; other messages go on to onMessage. */
export function countEvents(c: BenchClient, onEvent: () => void): void {
  c.onEncoded = (b) => {
    if (b[1] === 0x18 && b[2] === T_EVENT) {
      onEvent();
      return true;
    }
    return false;
  };
}
