import type { Socket } from 'node:net';

/** How a transport heads a frame: RawSocket's 4 bytes, WebSocket's 2, 4 or 10. */
export interface FrameHeader {
  size(len: number): number;
  /** Writes the header of a `len`-byte payload with the transport's first byte `kind`; returns the offset after it. */
  write(out: Buffer, at: number, kind: number, len: number): number;
}

/** Payloads from this size on travel as buffers of their own instead of being copied into a block. */
const LARGE_FRAME = 16 * 1024;
/** A pass's first block comes from Buffer's pool (below 4 KiB); once one runs full, the next are BIG_BLOCK. */
const FIRST_BLOCK = 2048;
const BIG_BLOCK = 64 * 1024;
const NOTHING = Buffer.alloc(0);

/**
 * BIG_BLOCKs whose bytes the socket has taken (its write callback ran), shared by every connection: a
 * busy connection fills one every few hundred frames, and a fresh 64 KiB buffer each time costs an
 * allocation the GC accounts for and a first touch of its memory. A few are kept; the rest are garbage.
 */
const spare: Buffer[] = [];
const SPARE_BLOCKS = 16;
function bigBlock(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafe(BIG_BLOCK);
}
/** A write's callback for a chunk that is a view of `block`: the block is free again once the socket is done with it. */
function releaser(block: Buffer): (err?: Error | null) => void {
  return (err) => {
    if (!err && spare.length < SPARE_BLOCKS) spare.push(block);
  };
}

/**
 * A connection's outbound frames, collected during one pass of the event loop and handed to the socket
 * at its end in one write (one system call, and on TLS one run of records), or as soon as a block runs
 * full when a pass sends more than one holds: frames are written into
 * blocks as they come (header, then the payload copied, or encoded in place via reserve()), large
 * payloads follow as they are. `queued` counts the bytes not yet handed to the socket, so a transport's
 * outbound bound sees them.
 */
export class FrameBatch {
  queued = 0;
  /** The buffer reserve() put the last frame's payload room in. */
  target: Buffer = NOTHING;
  private chunks: Buffer[] = [];
  /** Per chunk: the BIG_BLOCK it is a view of (recycled after its write), else undefined. */
  private owners: (Buffer | undefined)[] = [];
  private block: Buffer | undefined;
  private off = 0;
  /** A block ran full this pass: the next ones are big. */
  private filled = false;
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly header: FrameHeader,
    /** False once the connection must not carry more frames (then the batch is dropped). */
    private readonly open: () => boolean,
  ) {}

  add(kind: number, payload: Buffer): void {
    const len = payload.length;
    if (len < LARGE_FRAME) {
      const at = this.reserve(kind, len); // (sets target)
      this.target.set(payload, at); // the whole payload: no view to make (copyBytes makes one)
      return;
    }
    this.large(kind, len);
    this.push(payload, undefined);
  }

  /**
   * Room for one frame with a `len`-byte payload, its header written: returns the offset in `target`
   * where the caller writes the payload (all `len` bytes, before anything else is added). Read `target`
   * after the call (it may be a new block): `const at = b.reserve(k, n); write(b.target, at)`.
   */
  reserve(kind: number, len: number): number {
    if (len >= LARGE_FRAME) {
      this.large(kind, len);
      this.target = Buffer.allocUnsafe(len);
      this.push(this.target, undefined);
      return 0;
    }
    const need = this.header.size(len) + len;
    let block = this.block;
    if (block === undefined || block.length - this.off < need) {
      if (block !== undefined) this.filled = true;
      this.closeBlock();
      block = this.block = this.filled || need > FIRST_BLOCK ? bigBlock() : Buffer.allocUnsafe(FIRST_BLOCK);
    }
    this.queued += need;
    this.schedule();
    this.target = block;
    const at = this.header.write(block, this.off, kind, len);
    this.off = at + len;
    return at;
  }

  /** Writes what is queued now (also called directly before a close). */
  readonly flush = (): void => {
    this.scheduled = false;
    this.closeBlock();
    this.filled = false;
    this.writeOut();
  };

  /** Hands every closed chunk to the socket, in one write (corked when there are several). */
  private writeOut(): void {
    const chunks = this.chunks;
    const owners = this.owners;
    this.chunks = [];
    this.owners = [];
    this.queued = 0; // (callers close the open block first)
    const socket = this.socket;
    if (chunks.length === 0 || socket.destroyed || !this.open()) return;
    const write = (i: number) => {
      const owner = owners[i];
      if (owner === undefined) socket.write(chunks[i]!);
      else socket.write(chunks[i]!, releaser(owner));
    };
    if (chunks.length === 1) return write(0);
    socket.cork();
    for (let i = 0; i < chunks.length; i++) write(i);
    socket.uncork();
  }

  private push(chunk: Buffer, owner: Buffer | undefined): void {
    this.chunks.push(chunk);
    this.owners.push(owner);
  }

  /** A large frame's header as a chunk of its own (its payload follows as another). */
  private large(kind: number, len: number): void {
    this.closeBlock();
    const h = Buffer.allocUnsafe(this.header.size(len));
    this.header.write(h, 0, kind, len);
    this.push(h, undefined);
    this.queued += h.length + len;
    this.schedule();
  }

  /**
   * Ends the open block, and what is queued leaves at once: a block ends when it runs full (or before a
   * large frame, or at the end of the pass), and under load a pass can take a while, so the peer starts
   * on a full block while the router works on.
   */
  private closeBlock(): void {
    const block = this.block;
    if (block === undefined) return;
    if (this.off > 0) this.push(block.subarray(0, this.off), block.length === BIG_BLOCK ? block : undefined);
    this.block = undefined;
    this.off = 0;
    if (this.chunks.length > 0) this.writeOut();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}
