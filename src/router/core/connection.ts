import type { Logger } from 'pino';
import type { Serializer, SerializerId } from '../wamp/serializers.js';

/** How a session's bytes travel; implemented by the RawSocket and WebSocket transports. */
export interface TransportInfo {
  type: 'websocket' | 'rawsocket';
  protocol: string;
  /** Remote address ("tcp4:1.2.3.4:5678", "unix"). */
  peer: string;
  /** Rate-limit key: the peer's IP, or "unix". */
  source: string;
  listener: string;
  tls: boolean;
}

export interface Connection {
  readonly serializer: Serializer;
  readonly info: TransportInfo;
  /** Queues a message; a transport whose outbound queue is over its bound cuts the connection off. */
  send(out: Outgoing): void;
  /** Flushes and closes (used after ABORT, or when no HELLO follows a GOODBYE). */
  close(): void;
  /** Bytes queued for the peer and not yet written by the kernel (read when metrics are scraped). */
  queuedBytes?(): number;
  /** The session this connection's messages go to from now on (a new one after GOODBYE). */
  rebind(next: import('./session.js').Session): void;
}

/** A message to send, encoded at most once per serializer (one EVENT goes to many subscribers). */
export class Outgoing {
  // the first serializer's encoding in fields of their own (most messages have one recipient), others keyed
  private firstBy: Serializer | undefined;
  private first: Buffer | undefined;
  private others: Partial<Record<SerializerId, Buffer>> | undefined;
  private delivered = false;
  private w: unknown[] | undefined;
  /** A message that came encoded: its values decoded on first use (a peer of another serializer). */
  private decodeWire: ((bytes: Buffer) => unknown[]) | undefined;
  constructor(wire: unknown[]) {
    this.w = wire;
  }

  /**
   * A message encoded already for `s` (the cluster fabric carries EVENTs so): a peer of `s` gets these
   * bytes as they are (used before the caller's next turn: they may be a view of a read buffer); `decode`
   * (of these bytes) gives its values, asked only for a peer of another serializer.
   */
  static encoded(s: Serializer, bytes: Buffer, decode: (bytes: Buffer) => unknown[]): Outgoing {
    const o = new Outgoing(undefined as unknown as unknown[]);
    o.decodeWire = decode;
    o.firstBy = s;
    o.first = bytes;
    return o;
  }

  /** The message's values (WAMP message array; a trailing RawPayload possibly). */
  get wire(): unknown[] {
    return (this.w ??= this.decodeWire!(this.first!));
  }

  /**
   * The first delivery may write the message straight into its transport's buffer: its size for `s`
   * then, else -1 (and for every later delivery, which reuses an encoding from encode(); and for a
   * message that came encoded).
   */
  directSize(s: Serializer): number {
    if (this.delivered) return -1;
    this.delivered = true;
    return s.encodedSize && this.first === undefined ? s.encodedSize(this.wire) : -1;
  }

  /** Writes what directSize measured at out[at]. */
  encodeInto(s: Serializer, out: Buffer, at: number): void {
    s.encodeInto!(this.wire, out, at);
  }

  encode(s: Serializer): Buffer {
    if (this.firstBy === s) return this.first!;
    if (this.firstBy === undefined) {
      const b = s.encode(this.wire);
      this.firstBy = s;
      this.first = b;
      return b;
    }
    const hit = this.others?.[s.id];
    if (hit) return hit;
    const b = s.encode(this.wire);
    (this.others ??= {})[s.id] = b;
    return b;
  }
}

/**
 * `out` encoded for a peer's serializer, or undefined (logged) when it carries a value that serializer
 * cannot (e.g. a CBOR bignum for a JSON peer): that message is skipped for that peer only.
 */
export function encodeOrSkip(out: Outgoing, s: Serializer, log: Logger, where: { peer: string; session: number | undefined }): Buffer | undefined {
  try {
    return out.encode(s);
  } catch (e) {
    log.warn({ ...where, err: String(e) }, 'message not representable for this peer; dropped');
    return undefined;
  }
}
