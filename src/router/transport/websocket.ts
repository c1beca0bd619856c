import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenerPaths, type RouterConfig, type WebSocketListenerConfig } from '../config.js';
import { encodeOrSkip, type Connection, type Outgoing, type TransportInfo } from '../core/connection.js';
import type { Router } from '../core/router.js';
import type { ListenerRuntime, Session } from '../core/session.js';
import { BY_SUBPROTOCOL, type Serializer } from '../wamp/serializers.js';
import { FrameBatch, type FrameHeader } from './frame-batch.js';
import { peerOf } from './rawsocket.js';

type Limits = RouterConfig['limits'];

const FIN = 0x80;
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;

/** A server's (unmasked) WebSocket frame header (RFC 6455 5.2): FIN and opcode, then a 7-, 16- or 64-bit length. */
export const WEBSOCKET_HEADER: FrameHeader = {
  size: (len) => (len < 126 ? 2 : len < 0x10000 ? 4 : 10),
  write(out, at, kind, len) {
    out[at] = kind;
    if (len < 126) {
      out[at + 1] = len;
      return at + 2;
    }
    if (len < 0x10000) {
      out[at + 1] = 126;
      out.writeUInt16BE(len, at + 2);
      return at + 4;
    }
    out[at + 1] = 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), at + 2);
    out.writeUInt32BE(len >>> 0, at + 6);
    return at + 10;
  },
};

/** Picks the first subprotocol the client offers that this listener speaks. */
export function chooseSubprotocol(header: string | undefined, allowed: readonly string[]): Serializer | undefined {
  for (const p of (header ?? '').split(',').map((x) => x.trim())) {
    const s = BY_SUBPROTOCOL.get(p);
    if (s && allowed.includes(s.id)) return s;
  }
  return undefined;
}

function reject(socket: Socket, status: number, text: string, extra: string[] = []): void {
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${extra.map((h) => h + '\r\n').join('')}\r\n`);
  socket.destroy();
}

/**
 * WebSocket transport on an http(s) server: subprotocols wamp.2.json/msgpack/cbor, permessage-deflate
 * (window bits and memory level from the config), 1 MiB messages, outbound auto-fragmentation, open
 * handshake timeout, auto-ping with timeout, close-handshake timeout, fail by drop on protocol errors,
 * HSTS on every HTTP response of a TLS listener.
 */
/** Each URL path's runtime: the listener's, with that path's auth methods and realm restriction. */
export function pathRuntimes(listener: ListenerRuntime): Map<string, ListenerRuntime> {
  const cfg = listener.cfg as WebSocketListenerConfig;
  return new Map(listenerPaths(cfg).map((p) => [p.path, { ...listener, cfg: { ...cfg, auth: p.auth ?? cfg.auth }, realms: p.realms }]));
}

export function attachWebSocket(server: HttpServer, router: Router, listener: ListenerRuntime, limits: Limits, tls: boolean): void {
  const cfg = listener.cfg as WebSocketListenerConfig;
  const byPath = pathRuntimes(listener);
  const hsts = tls && cfg.tls && cfg.tls.hstsMaxAge > 0 ? `Strict-Transport-Security: max-age=${cfg.tls.hstsMaxAge}; includeSubDomains` : undefined;
  const c = limits.compression;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: limits.maxMessageSize,
    perMessageDeflate: c.enabled
      ? {
          serverMaxWindowBits: c.windowBits,
          clientMaxWindowBits: c.windowBits,
          zlibDeflateOptions: { windowBits: c.windowBits, memLevel: c.memLevel },
          zlibInflateOptions: { windowBits: 15 },
          threshold: 1024,
          concurrencyLimit: 4,
        }
      : false,
    handleProtocols: (protocols) => chooseSubprotocol([...protocols].join(','), cfg.serializers)?.subprotocol ?? false,
  });
  if (hsts) wss.on('headers', (headers) => headers.push(hsts));

  // open handshake timeout: TCP (and TLS) connect → WebSocket upgrade done
  const pending = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket) => {
    router.stats.connections++;
    const t = setTimeout(() => socket.destroy(), limits.openHandshakeTimeoutMs);
    t.unref();
    pending.set(socket, t);
    socket.once('close', () => clearTimeout(t));
  };
  server.on(tls ? 'secureConnection' : 'connection', arm);
  server.headersTimeout = limits.openHandshakeTimeoutMs;
  server.requestTimeout = limits.openHandshakeTimeoutMs;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (hsts) res.setHeader('Strict-Transport-Security', hsts.slice(hsts.indexOf(':') + 2));
    res.setHeader('Connection', 'close');
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' });
    res.end('This is a WAMP router: connect with WebSocket (wamp.2.json, wamp.2.msgpack, wamp.2.cbor).\n');
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    const extra = hsts ? [hsts] : [];
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const runtime = byPath.get(q < 0 ? url : url.slice(0, q));
    if (!runtime) return reject(socket, 404, 'Not Found', extra);
    if (!router.canAccept()) {
      router.log.warn({ listener: listener.name }, 'session cap reached; refusing');
      return reject(socket, 503, 'Service Unavailable', extra);
    }
    const ser = chooseSubprotocol(req.headers['sec-websocket-protocol'], cfg.serializers);
    if (!ser) return reject(socket, 400, 'Bad Request', extra);
    wss.handleUpgrade(req, socket, head, (ws) => {
      clearTimeout(pending.get(socket));
      serveWebSocket(ws, ser, socket, router, runtime, limits, tls);
    });
  });
}

function serveWebSocket(ws: WebSocket, serializer: Serializer, socket: Socket, router: Router, listener: ListenerRuntime, limits: Limits, tls: boolean): void {
  const { peer, source } = peerOf(socket);
  const log = router.log;
  let closing = false;
  let pongTimer: NodeJS.Timeout | undefined;
  let awaitingPong = false;
  const frag = limits.autoFragmentSize;
  const opcode = serializer.binary ? OP_BINARY : OP_TEXT;
  // Without an extension (no permessage-deflate negotiated) the router frames its messages itself: what
  // one pass of the event loop sends leaves in one socket write (one system call, one run of TLS
  // records). With compression, ws frames them, corked for the pass likewise.
  const own = ws.extensions === '' ? new FrameBatch(socket, WEBSOCKET_HEADER, () => ws.readyState === ws.OPEN) : undefined;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  const where = () => ({ peer, session: session.id });
  /** Our framing: one frame encoded in place, or the encoding copied in (as fragments beyond autoFragmentSize). */
  const sendFramed = (batch: FrameBatch, out: Outgoing) => {
    const direct = out.directSize(serializer);
    if (direct >= 0 && (frag <= 0 || direct <= frag)) {
      const at = batch.reserve(FIN | opcode, direct);
      out.encodeInto(serializer, batch.target, at);
      return;
    }
    const data = encodeOrSkip(out, serializer, log, where());
    if (data === undefined) return;
    if (frag > 0 && data.length > frag) {
      // the first frame carries the opcode, the rest are continuations; FIN on the last
      for (let i = 0; i < data.length; i += frag) batch.add((i + frag >= data.length ? FIN : 0) | (i === 0 ? opcode : OP_CONTINUATION), data.subarray(i, i + frag));
    } else batch.add(FIN | opcode, data);
  };
  /** ws's framing (permessage-deflate negotiated), corked for the pass. */
  const sendViaWs = (out: Outgoing) => {
    const data = encodeOrSkip(out, serializer, log, where());
    if (data === undefined) return;
    const binary = serializer.binary;
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    if (frag > 0 && data.length > frag) {
      for (let i = 0; i < data.length; i += frag) ws.send(data.subarray(i, i + frag), { binary, fin: i + frag >= data.length });
    } else ws.send(data, { binary });
  };
  const conn: Connection = {
    serializer,
    info: { type: 'websocket', protocol: serializer.subprotocol, peer, source, listener: listener.name, tls } as TransportInfo,
    send(out: Outgoing) {
      if (closing || ws.readyState !== ws.OPEN) return;
      if (own) sendFramed(own, out);
      else sendViaWs(out);
      const queued = ws.bufferedAmount + (own?.queued ?? 0);
      if (queued > limits.maxOutboundQueueBytes) {
        log.warn({ peer, listener: listener.name, session: session.id, queued }, 'slow consumer cut off');
        router.stats.slowConsumers++;
        ws.terminate();
      }
    },
    close() {
      if (closing) return;
      closing = true;
      own?.flush(); // what was queued this pass (e.g. an ABORT) goes out before the close frame
      ws.close(1000);
      setTimeout(() => ws.terminate(), limits.closeHandshakeTimeoutMs).unref();
    },
    queuedBytes() {
      return ws.bufferedAmount + (own?.queued ?? 0);
    },
    rebind(next) {
      session = next;
    },
  };
  let session: Session = router.attach(conn, listener);
  const p = listener.ping;
  const ping = p
    ? setInterval(() => {
        if (awaitingPong) return;
        awaitingPong = true;
        ws.ping();
        pongTimer = setTimeout(() => {
          log.info({ peer, session: session.id }, 'auto-ping timeout; dropping');
          ws.terminate();
        }, p.timeoutMs);
      }, p.intervalMs)
    : undefined;
  ping?.unref();
  ws.on('pong', () => {
    awaitingPong = false;
    clearTimeout(pongTimer);
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const b = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let value: unknown;
    try {
      value = serializer.decodeMessage(b);
    } catch {
      return session.protocolViolation('undecodable message');
    }
    session.receive(value);
  });
  // Fail by drop: a protocol error (bad frame, oversized message, bad UTF-8) ends the TCP connection
  // at once, with no close frame and no close handshake. ws would send its close frame (1002/1007/1009)
  // from its own receiver 'error' listener; ours runs first and destroys the socket, so nothing is sent.
  (ws as unknown as { _receiver?: { prependListener(ev: 'error', f: () => void): void } })._receiver?.prependListener('error', () => socket.destroy());
  ws.on('error', (err) => {
    log.debug({ peer, err: err.message }, 'websocket error; dropping');
    ws.terminate();
  });
  ws.on('close', () => {
    clearInterval(ping);
    clearTimeout(pongTimer);
    router.detach(session);
  });
}
