import type { Socket } from 'node:net';

/** How a transport heads a frame: RawSocket's 4 bytes, WebSocket's 2, 4 or 10. */
export interface FrameHeader {
  size(len: number): number;
  /** Writes the header of a `len`-byte payload with the transport's first byte `kind`; returns the offset after it. */
  write(out: Buffer, at: number, kind: number, len: number): number;
}

/** Payloads from this size on are written as they are instead of being copied into the tick's block. */
const LARGE_FRAME = 16 * 1024;

/**
 * A connection's outbound frames, collected during one pass of the event loop and handed to the socket
 * in one write (one system call, and on TLS one run of records): small frames are copied with their
 * headers into one block, large payloads follow zero-copy. `queued` counts the bytes not yet handed to
 * the socket, so a transport's outbound bound sees them.
 */
export class FrameBatch {
  queued = 0;
  private kinds: number[] = [];
  private payloads: Buffer[] = [];
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly header: FrameHeader,
    /** False once the connection must not carry more frames (then the batch is dropped). */
    private readonly open: () => boolean,
  ) {}

  add(kind: number, payload: Buffer): void {
    this.kinds.push(kind);
    this.payloads.push(payload);
    this.queued += this.header.size(payload.length) + payload.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes what is queued now (also called directly before a close). */
  readonly flush = (): void => {
    this.scheduled = false;
    const { kinds, payloads, queued: total, socket, header } = this;
    this.kinds = [];
    this.payloads = [];
    this.queued = 0;
    if (payloads.length === 0 || socket.destroyed || !this.open()) return;
    const multi = payloads.length > 1;
    if (multi) socket.cork();
    let block: Buffer | undefined;
    let off = 0;
    let left = total; // bytes (headers included) from frame i to the end
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i]!;
      const len = p.length;
      const size = header.size(len) + len;
      if (len >= LARGE_FRAME) {
        if (block && off > 0) socket.write(block.subarray(0, off));
        block = undefined;
        off = 0;
        const h = Buffer.allocUnsafe(size - len);
        header.write(h, 0, kinds[i]!, len);
        socket.write(h);
        socket.write(p);
      } else {
        // room for the rest of the batch (the copy stops early at the next large frame)
        if (!block) {
          block = Buffer.allocUnsafe(left);
          off = 0;
        }
        off = header.write(block, off, kinds[i]!, len);
        off += p.copy(block, off);
      }
      left -= size;
    }
    if (block && off > 0) socket.write(off === block.length ? block : block.subarray(0, off));
    if (multi) socket.uncork();
  };
}
