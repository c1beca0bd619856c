import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { RouterConfig } from '../config.js';
import { encodeOrSkip, type Connection, type Outgoing, type TransportInfo } from '../core/connection.js';
import type { Router } from '../core/router.js';
import type { ListenerRuntime, Session } from '../core/session.js';
import { BY_RAWSOCKET, type Serializer } from '../wamp/serializers.js';
import { FrameBatch, type FrameHeader } from './frame-batch.js';

/**
 * WAMP RawSocket: 4-byte handshake (0x7F, length exponent << 4 | serializer, 0, 0), then frames of a
 * 4-byte header (5 reserved bits, 3 bits type: 0 WAMP, 1 PING, 2 PONG; 24-bit length) + payload.
 * Handshake errors answer 0x7F, code << 4, 0, 0: 1 serializer unsupported, 2 maximum message length
 * unacceptable, 3 use of reserved bits, 4 maximum connection count reached. Anything else malformed
 * (bad magic, bad frame type or reserved bits, oversized frame) fails the connection by dropping it.
 */
export const RAWSOCKET_ERROR = { SERIALIZER_UNSUPPORTED: 1, MAX_LENGTH_UNACCEPTABLE: 2, RESERVED_BITS: 3, MAX_CONNECTIONS: 4 } as const;
const MAGIC = 0x7f;
const T_WAMP = 0;
const T_PING = 1;
const T_PONG = 2;
const EMPTY = Buffer.alloc(0);
/** Idle time before the kernel probes an unpinged TCP RawSocket peer. */
const TCP_KEEPALIVE_IDLE_MS = 30_000;

/** A RawSocket frame header: the frame type (0 WAMP, 1 PING, 2 PONG), then the 24-bit payload length. */
const RAWSOCKET_HEADER: FrameHeader = {
  size: () => 4,
  write(out, at, type, len) {
    out[at] = type;
    out[at + 1] = len >>> 16;
    out[at + 2] = (len >>> 8) & 0xff;
    out[at + 3] = len & 0xff;
    return at + 4;
  },
};

/** Our length exponent: 2^(9+L) >= max message size. */
export function lengthExponent(maxMessageSize: number): number {
  return Math.min(15, Math.max(0, Math.ceil(Math.log2(maxMessageSize)) - 9));
}

export function peerOf(socket: Socket): { peer: string; source: string } {
  if (socket.remoteAddress) {
    const fam = socket.remoteFamily === 'IPv6' ? 'tcp6' : 'tcp4';
    return { peer: `${fam}:${socket.remoteAddress}:${socket.remotePort}`, source: socket.remoteAddress };
  }
  return { peer: 'unix', source: 'unix' };
}

export function serveRawSocket(router: Router, listener: ListenerRuntime, socket: Socket, limits: RouterConfig['limits']): void {
  const ourExp = lengthExponent(limits.maxMessageSize);
  const ourMax = Math.min(2 ** (9 + ourExp), limits.maxMessageSize);
  let buf: Buffer = EMPTY;
  let serializer: Serializer | undefined;
  let peerMax = 0;
  let session: Session | undefined;
  let pingPayload: Buffer | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let autoPing: NodeJS.Timeout | undefined;
  let closing = false;
  let dead = false;
  const { peer, source } = peerOf(socket);
  const log = router.log;

  router.stats.connections++;
  socket.setNoDelay?.(true);
  const handshakeTimer = setTimeout(() => socket.destroy(), limits.openHandshakeTimeoutMs);

  const drop = (why: string) => {
    dead = true;
    log.debug({ peer, listener: listener.name, why }, 'rawsocket dropped');
    socket.destroy();
  };
  const refuse = (code: number) => {
    dead = true;
    socket.end(Buffer.from([MAGIC, code << 4, 0, 0]));
    setTimeout(() => socket.destroy(), limits.closeHandshakeTimeoutMs).unref();
  };
  const outbound = new FrameBatch(socket, RAWSOCKET_HEADER, () => true);
  const frame = (type: number, payload: Buffer) => outbound.add(type, payload);

  /** A message over the peer's announced maximum closes the connection (true then). */
  const tooLarge = (size: number): boolean => {
    if (size <= peerMax) return false;
    log.warn({ peer, size, peerMax }, 'message larger than the peer accepts; closing');
    socket.destroy();
    return true;
  };

  const conn: Connection = {
    get serializer() {
      return serializer!;
    },
    info: { type: 'rawsocket', protocol: '', peer, source, listener: listener.name, tls: false } as TransportInfo,
    send(out: Outgoing) {
      if (socket.destroyed || closing) return;
      const direct = out.directSize(serializer!);
      if (direct >= 0) {
        // encoded straight into the outbound block
        if (tooLarge(direct)) return;
        const at = outbound.reserve(T_WAMP, direct);
        out.encodeInto(serializer!, outbound.target, at);
      } else {
        const payload = encodeOrSkip(out, serializer!, log, { peer, session: session?.id });
        if (payload === undefined || tooLarge(payload.length)) return;
        frame(T_WAMP, payload);
      }
      const backlog = socket.writableLength + outbound.queued;
      if (backlog > limits.maxOutboundQueueBytes) {
        log.warn({ peer, listener: listener.name, session: session?.id, queued: backlog }, 'slow consumer cut off');
        router.stats.slowConsumers++;
        socket.destroy();
      }
    },
    close() {
      if (closing) return;
      closing = true;
      outbound.flush(); // what was queued this tick (e.g. an ABORT) goes out before the FIN
      socket.end();
      setTimeout(() => socket.destroy(), limits.closeHandshakeTimeoutMs).unref();
    },
    queuedBytes() {
      return socket.writableLength + outbound.queued;
    },
    rebind(next) {
      session = next;
    },
  };

  const startPing = () => {
    // Off unless the listener asks (autoPing): python3-autobahn's RawSocket clients end or drop the
    // connection on any PING (see src/router/README.md). A peer that dies closes the socket, one that
    // stops reading runs into the outbound bound; a TCP peer whose host vanished is found by the
    // kernel's keepalive probes, which no WAMP client sees.
    const ping = listener.ping;
    if (!ping) {
      if (source !== 'unix') socket.setKeepAlive?.(true, TCP_KEEPALIVE_IDLE_MS);
      return;
    }
    autoPing = setInterval(() => {
      if (pingPayload) return;
      // ASCII payload: some clients (autobahn-js) echo it back through a UTF-8 string
      pingPayload = Buffer.from(randomBytes(8).toString('hex'));
      frame(T_PING, pingPayload);
      pingTimer = setTimeout(() => drop('ping timeout'), ping.timeoutMs);
    }, ping.intervalMs);
    autoPing.unref();
  };

  const handshake = (): boolean => {
    if (buf.length < 4) return false;
    clearTimeout(handshakeTimer);
    if (buf[0] !== MAGIC) {
      drop('bad magic');
      return false;
    }
    const b1 = buf[1]!;
    const ser = b1 & 0x0f;
    const exp = b1 >> 4;
    if (buf[2] !== 0 || buf[3] !== 0) {
      refuse(RAWSOCKET_ERROR.RESERVED_BITS);
      return false;
    }
    const s = BY_RAWSOCKET.get(ser);
    if (!s || !listener.cfg.serializers.includes(s.id)) {
      refuse(RAWSOCKET_ERROR.SERIALIZER_UNSUPPORTED);
      return false;
    }
    if (exp === 0) {
      // 512 bytes cannot even hold our WELCOME
      refuse(RAWSOCKET_ERROR.MAX_LENGTH_UNACCEPTABLE);
      return false;
    }
    if (!router.canAccept()) {
      log.warn({ peer, listener: listener.name }, 'session cap reached; refusing');
      refuse(RAWSOCKET_ERROR.MAX_CONNECTIONS);
      return false;
    }
    serializer = s;
    peerMax = 2 ** (9 + exp);
    (conn.info as { protocol: string }).protocol = `wamp.2.${s.id}`;
    socket.write(Buffer.from([MAGIC, (ourExp << 4) | ser, 0, 0]));
    buf = buf.subarray(4);
    session = router.attach(conn, listener);
    startPing();
    return true;
  };

  const frames = () => {
    // walk the frames by offset; `buf` keeps only the unconsumed tail afterwards
    let pos = 0;
    const n = buf.length;
    while (n - pos >= 4 && !socket.destroyed) {
      const b0 = buf[pos]!;
      const type = b0 & 0x07;
      if (b0 & 0xf8) return drop('reserved bits in frame header');
      if (type > T_PONG) return drop(`unknown frame type ${type}`);
      const len = (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!;
      if (len > ourMax) return drop('frame exceeds our maximum length');
      if (n - pos < 4 + len) break;
      const payload = buf.subarray(pos + 4, pos + 4 + len);
      pos += 4 + len;
      if (type === T_PING) frame(T_PONG, Buffer.from(payload));
      else if (type === T_PONG) {
        if (pingPayload && payload.equals(pingPayload)) {
          pingPayload = undefined;
          clearTimeout(pingTimer);
        }
      } else {
        let value: unknown;
        try {
          value = serializer!.decodeMessage(payload);
        } catch {
          buf = EMPTY;
          session!.protocolViolation('undecodable message');
          return;
        }
        session!.receive(value);
      }
    }
    buf = pos === n ? EMPTY : pos === 0 ? buf : buf.subarray(pos);
  };

  socket.on('data', (chunk: Buffer) => {
    if (dead) return;
    if (buf.length === 0) buf = chunk;
    else if (!serializer || buf.length < 4)
      buf = Buffer.concat([buf, chunk]); // a split handshake or frame header
    else {
      // A frame held over from the last chunk (its header checked by frames()): complete it with just the
      // bytes it still needs, then walk the rest of this chunk in place. Under load every chunk ends in
      // part of a frame; joining whole chunks would copy every byte received once more.
      const need = 4 + ((buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) - buf.length;
      if (chunk.length <= need) buf = Buffer.concat([buf, chunk]);
      else {
        buf = Buffer.concat([buf, chunk.subarray(0, need)]);
        frames();
        if (dead || socket.destroyed) return;
        buf = chunk.subarray(need);
      }
    }
    if (!serializer && !handshake()) return;
    frames();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    clearTimeout(handshakeTimer);
    clearTimeout(pingTimer);
    clearInterval(autoPing);
    if (session) router.detach(session);
  });
}
