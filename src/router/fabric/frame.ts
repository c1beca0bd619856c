/**
 * A batch of EVENTs to one node: [u32 header length][header JSON] then one entry per event:
 * [u32 event length][u32 recipient count, 0: the recipients of the entry before][recipients, f64 LE
 * each (session IDs are integers below 2^53)][the EVENT, CBOR]. Binary so that neither side builds or
 * parses text per event; the receiving node sends a CBOR subscriber the EVENT's bytes as they are.
 */
export class EventBatchWriter {
  readonly out: Buffer;
  private at: number;
  private prev: readonly number[] | undefined;
  private prevFrom = 0;
  private prevCount = 0;

  /** `bytes`: what the entries will take (entrySize of each, with `sameAsBefore` as they will be added). */
  constructor(headerJson: string, bytes: number) {
    const hl = Buffer.byteLength(headerJson, 'utf8');
    this.out = Buffer.allocUnsafe(4 + hl + bytes);
    this.out.writeUInt32BE(hl, 0);
    this.at = 4 + this.out.write(headerJson, 4, 'utf8');
  }

  /** Bytes an entry takes: `count` recipients (0 when they are the entry before's), an event of `length`. */
  static entrySize(count: number, length: number): number {
    return 8 + 8 * count + length;
  }

  /** Whether recipients sids[from, from + count) are those of the entry added last (then they are not written again). */
  sameAsBefore(sids: readonly number[], from: number, count: number): boolean {
    const p = this.prev;
    if (p === undefined || count !== this.prevCount) return false;
    if (p === sids && from === this.prevFrom) return true;
    for (let i = 0; i < count; i++) if (p[this.prevFrom + i] !== sids[from + i]) return false;
    return true;
  }

  /**
   * Adds an entry's head (recipients sids[from, from + count), written unless `same`) for an event of
   * `length` bytes; returns where the event's bytes go (the caller writes exactly `length` there).
   */
  add(sids: readonly number[], from: number, count: number, same: boolean, length: number): number {
    const out = this.out;
    out.writeUInt32LE(length, this.at);
    out.writeUInt32LE(same ? 0 : count, this.at + 4);
    this.at += 8;
    if (!same) {
      for (let i = 0; i < count; i++, this.at += 8) out.writeDoubleLE(sids[from + i]!, this.at);
      this.prev = sids;
      this.prevFrom = from;
      this.prevCount = count;
    }
    const at = this.at;
    this.at += length;
    return at;
  }

  /** Bytes written (the whole buffer once every entry is in). */
  get length(): number {
    return this.at;
  }
}

/**
 * The entries of an event batch's body (see EventBatchWriter): `visit(recipients, start, end)` for each
 * event at body[start, end). Throws on a malformed body (entries before the fault were visited).
 */
export function readEventBatch(body: Buffer, visit: (recipients: number[], start: number, end: number) => void): void {
  let at = 0;
  let recipients: number[] | undefined;
  while (at < body.length) {
    if (at + 8 > body.length) throw new Error('event batch entry truncated');
    const length = body.readUInt32LE(at);
    const count = body.readUInt32LE(at + 4);
    at += 8;
    if (count > 0) {
      if (at + 8 * count > body.length) throw new Error('event batch recipients truncated');
      recipients = new Array<number>(count);
      for (let i = 0; i < count; i++, at += 8) recipients[i] = body.readDoubleLE(at);
    } else if (recipients === undefined) throw new Error('event batch starts without recipients');
    if (at + length > body.length) throw new Error('event batch event truncated');
    visit(recipients, at, at + length);
    at += length;
  }
}

/** A directed message whose body is `bodies` one after the other (copied once). */
export function encodeFrameParts(header: object, bodies: readonly Uint8Array[]): Buffer {
  const h = JSON.stringify(header);
  const hl = Buffer.byteLength(h, 'utf8');
  let size = 4 + hl;
  for (const b of bodies) size += b.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(hl, 0);
  let at = 4 + out.write(h, 4, 'utf8');
  for (const b of bodies) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * A directed fabric message: [u32 header length][header JSON][body]. The header says what it is and for
 * whom; the body is a WAMP message (CBOR, its payload bytes as they came when the sender had them raw).
 */
export function encodeFrame(header: object, body?: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(4 + h.length + (body?.length ?? 0));
  out.writeUInt32BE(h.length, 0);
  h.copy(out, 4);
  if (body) out.set(body, 4 + h.length);
  return out;
}

/**
 * Throws on a frame too short for its header. The body is a copy unless `copy` is false (then a view of
 * `data`, for a body used up before the caller returns).
 */
export function decodeFrame(data: Uint8Array, copy = true): { header: Record<string, unknown>; body: Buffer } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 4) throw new Error('fabric frame too short');
  const n = b.readUInt32BE(0);
  if (b.length < 4 + n) throw new Error('fabric frame header truncated');
  const header = JSON.parse(b.toString('utf8', 4, 4 + n)) as unknown;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('fabric frame header is not an object');
  // copied: its bytes may outlive the client's read buffer (raw payloads keep them)
  return { header: header as Record<string, unknown>, body: copy ? Buffer.from(b.subarray(4 + n)) : b.subarray(4 + n) };
}
