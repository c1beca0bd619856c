import { afterHead, argumentAt, cborItemEnd, emptyMapEnd, textKeyedMapEnd } from './cbor-walk.js';
import { isId, LAYOUTS, MAX_ID } from './messages.js';
import { RawPayload } from './raw-payload.js';

/**
 * The router's fast lane for CBOR messages that carry a payload (CALL, YIELD, PUBLISH, ERROR in;
 * INVOCATION, RESULT, EVENT, ERROR out): the routing head (type code, IDs, options, URI) is read and
 * written here by hand, and the payload (args, kwargs) crosses the router as checked bytes. Anything off
 * the common shapes goes to the general codec (cbor-x): a head element other than an integer, a text
 * string or an empty dictionary is coded by it, and a message this lane cannot take returns undefined
 * from decodeCborRouted so the caller decodes it whole (and rejects it if malformed).
 */
export interface CborCodec {
  /** Encodes a value (integers beyond 32 bits as 64-bit integers). */
  encode(value: unknown): Buffer;
  decode(data: Buffer): unknown;
}

/** Elements before the payload (type code included), for the message types that carry one. */
const HEAD_LENGTH: (number | undefined)[] = [];
for (const [type, layout] of Object.entries(LAYOUTS)) if (layout.payload) HEAD_LENGTH[Number(type)] = layout.fields.length + 1;

/** Buffer's own slice-to-string (what toString('utf8', a, b) ends in, without its argument handling). */
type FastSlices = Buffer & { utf8Slice(start: number, end: number): string };

// The last text read from a head (a URI, mostly): consecutive messages mostly name the same procedure or
// topic, and handing out the same string object again also saves hashing it in the router's map lookups.
const lastText = Buffer.alloc(256);
let lastTextLength = -1;
let lastTextString = '';

/** data[start, end) (checked UTF-8) as a string; the previous call's string when the bytes are the same. */
function textAt(data: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len === lastTextLength) {
    let i = 0;
    while (i < len && data[start + i] === lastText[i]) i++;
    if (i === len) return lastTextString;
  }
  const text = (data as FastSlices).utf8Slice(start, end);
  if (len <= lastText.length) {
    data.copy(lastText, 0, start, end);
    lastTextLength = len;
    lastTextString = text;
  }
  return text;
}

/**
 * A payload-carrying message decoded up to its head, the payload kept as a trailing RawPayload;
 * undefined when this lane does not take it.
 */
function decodeRouted(data: Buffer, codec: CborCodec, decodeItems: (raw: RawPayload) => unknown[]): unknown[] | undefined {
  const b0 = data[0]!;
  if (data.length < 3 || b0 < 0x82 || b0 > 0x97) return undefined; // a definite array of 2..23 elements
  const count = b0 & 0x1f;
  const t = data[1]! < 24 ? data[1]! : data[1] === 24 ? data[2]! : -1;
  const head = HEAD_LENGTH[t];
  if (head === undefined || count <= head || count > head + 2) return undefined;
  // the head and the payload in an array of exactly that size (pushes would grow it to about 20 slots)
  const wire = new Array<unknown>(head + 1);
  wire[0] = t;
  let pos = data[1]! < 24 ? 2 : 3;
  for (let i = 1; i < head; i++) {
    const ib = data[pos];
    if (ib === undefined) return undefined;
    if (ib < 28) {
      const v = argumentAt(data, pos); // an unsigned integer (an ID)
      if (v < 0 || v > MAX_ID) return undefined;
      wire[i] = v;
      pos = afterHead();
    } else if (emptyMapEnd(data, pos) > 0) {
      wire[i] = {}; // cbor-x writes {} as b9 0000, most others as a0
      pos = emptyMapEnd(data, pos);
    } else {
      const end = cborItemEnd(data, pos); // well-formed, text checked as UTF-8
      if (end < 0) return undefined;
      if (ib >> 5 === 3 && argumentAt(data, pos) >= 0)
        wire[i] = textAt(data, afterHead(), end); // a definite text string
      else wire[i] = codec.decode(data.subarray(pos, end));
      pos = end;
    }
  }
  if (pos >= data.length || data[pos]! >> 5 !== 4) return undefined; // args: an array
  let end = cborItemEnd(data, pos);
  if (count === head + 2 && end > 0) end = textKeyedMapEnd(data, end); // kwargs: a dictionary
  if (end !== data.length) return undefined;
  wire[head] = new RawPayload('cbor', data, pos, end, count - head, decodeItems);
  return wire;
}

/** Bytes of a CBOR head (major type + argument) for argument n. */
function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function writeHead(out: Buffer, pos: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[pos] = m | n;
    return pos + 1;
  }
  if (n < 0x100) {
    out[pos] = m | 24;
    out[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    out[pos] = m | 25;
    out[pos + 1] = n >>> 8;
    out[pos + 2] = n & 0xff;
    return pos + 3;
  }
  if (n < 0x100000000) {
    out[pos] = m | 26;
    writeU32(out, pos + 1, n);
    return pos + 5;
  }
  out[pos] = m | 27; // n <= 2^53 (an ID): the high word fits 21 bits
  writeU32(out, pos + 1, Math.floor(n / 0x100000000));
  writeU32(out, pos + 5, n >>> 0);
  return pos + 9;
}

/** Big-endian 32-bit unsigned integer at `pos` (byte stores: no range checks per call on this path). */
function writeU32(out: Buffer, pos: number, n: number): void {
  out[pos] = n >>> 24;
  out[pos + 1] = (n >>> 16) & 0xff;
  out[pos + 2] = (n >>> 8) & 0xff;
  out[pos + 3] = n & 0xff;
}

function isEmptyDict(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  for (const _ in v) return false;
  return true;
}

/** CBOR size of a head element this lane writes itself (an ID, a text, an empty dictionary), or -1. */
function elementSize(v: unknown): number {
  if (isId(v)) return headBytes(v);
  if (typeof v === 'string') {
    const len = Buffer.byteLength(v);
    return headBytes(len) + len;
  }
  return isEmptyDict(v) ? 1 : -1;
}

/** Writes wire (head elements, then the payload bytes) at out[at]; `coded` holds elements the codec encoded. */
function writeRouted(wire: unknown[], raw: RawPayload, coded: (Buffer | undefined)[] | undefined, out: Buffer, at: number): void {
  const n = wire.length - 1;
  out[at] = 0x80 | (n + raw.count);
  let pos = at + 1;
  for (let i = 0; i < n; i++) {
    const v = wire[i];
    const c = coded?.[i];
    if (c) pos += c.copy(out, pos);
    else if (typeof v === 'number') pos = writeHead(out, pos, 0, v);
    else if (typeof v === 'string') {
      const len = Buffer.byteLength(v);
      pos = writeHead(out, pos, 3, len);
      pos += out.write(v, pos, len, 'utf8');
    } else out[pos++] = 0xa0;
  }
  raw.copyTo(out, pos);
}

/** A wire array ending in a CBOR RawPayload: the head coded here (or by the codec), the payload bytes after it. */
function encodeRouted(wire: unknown[], raw: RawPayload, codec: CborCodec): Buffer {
  const n = wire.length - 1; // head elements; WAMP heads are short (at most 5)
  let size = 1 + raw.length;
  let coded: (Buffer | undefined)[] | undefined; // elements the codec encodes
  for (let i = 0; i < n; i++) {
    const k = elementSize(wire[i]);
    if (k >= 0) size += k;
    else {
      const b = codec.encode(wire[i]);
      (coded ??= [])[i] = b;
      size += b.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  writeRouted(wire, raw, coded, out, 0);
  return out;
}

/** The encoded size of such a wire array when this lane writes every head element itself, else -1. */
function directSize(wire: unknown[], raw: RawPayload): number {
  let size = 1 + raw.length;
  for (let i = 0; i < wire.length - 1; i++) {
    const k = elementSize(wire[i]);
    if (k < 0) return -1;
    size += k;
  }
  return size;
}

/** The lane over one general codec: decode (undefined: not taken), encode (of a wire array ending in a CBOR RawPayload), and the same written in place (size -1: not possible, use encode). */
export function cborRoutedLane(codec: CborCodec): {
  decode(data: Buffer): unknown[] | undefined;
  encode(wire: unknown[], raw: RawPayload): Buffer;
  size(wire: unknown[], raw: RawPayload): number;
  encodeInto(wire: unknown[], raw: RawPayload, out: Buffer, at: number): void;
} {
  // [args] or [args, kwargs] from their encodings back to back: one array header in front, one decode
  const decodeItems = (raw: RawPayload): unknown[] => {
    const b = Buffer.allocUnsafe(raw.length + 1);
    b[0] = 0x80 | raw.count;
    raw.copyTo(b, 1);
    return codec.decode(b) as unknown[];
  };
  return {
    decode: (data) => decodeRouted(data, codec, decodeItems),
    encode: (wire, raw) => encodeRouted(wire, raw, codec),
    size: directSize,
    encodeInto: (wire, raw, out, at) => writeRouted(wire, raw, undefined, out, at),
  };
}
