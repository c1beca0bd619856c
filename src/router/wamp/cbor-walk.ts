import { isUtf8 } from 'node:buffer';

/**
 * A CBOR well-formedness walker (RFC 8949): finds where one data item ends without building any value.
 * The router uses it to forward a message's application payload (args/kwargs) as the bytes it came in,
 * checked but not decoded. Strict where a forwarded payload could hurt a receiver: reserved additional
 * information, a lone break, indefinite-length misuse, text that is not UTF-8, truncation and nesting
 * beyond MAX_DEPTH are all refused (the caller then takes the general decoder's path and its verdict).
 */
export const MAX_DEPTH = 64;
const NOT_WELL_FORMED = -1;

// readHead's results (module state instead of an object per item: the walker runs per message)
let headArg = 0;
let headEnd = 0;

/** Reads the initial byte and argument at `pos` into headArg/headEnd; false if truncated or reserved (28..30). */
function readHead(b: Uint8Array, pos: number): boolean {
  const n = b.length;
  const ai = b[pos]! & 0x1f;
  const p = pos + 1;
  if (ai < 24) {
    headArg = ai;
    headEnd = p;
  } else if (ai === 24) {
    if (p + 1 > n) return false;
    headArg = b[p]!;
    headEnd = p + 1;
  } else if (ai === 25) {
    if (p + 2 > n) return false;
    headArg = (b[p]! << 8) | b[p + 1]!;
    headEnd = p + 2;
  } else if (ai === 26) {
    if (p + 4 > n) return false;
    headArg = ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    headEnd = p + 4;
  } else if (ai === 27) {
    if (p + 8 > n) return false;
    const hi = ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    const lo = ((b[p + 4]! << 24) >>> 0) + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
    headArg = hi * 2 ** 32 + lo; // past 2^53 imprecise, but then far beyond any buffer: refused by the callers
    headEnd = p + 8;
  } else if (ai === 31) {
    headArg = -1; // indefinite length
    headEnd = p;
  } else return false; // 28..30 are reserved
  return true;
}

/** The offset just past the data item starting at `pos`, or -1 if it is not well-formed / truncated. */
export function cborItemEnd(b: Uint8Array, pos: number, depth = 0): number {
  const n = b.length;
  if (pos >= n || depth > MAX_DEPTH || !readHead(b, pos)) return NOT_WELL_FORMED;
  const major = b[pos]! >> 5;
  const arg = headArg;
  let p = headEnd;
  if (arg < 0) return indefinite(b, major, p, depth);
  switch (major) {
    case 0: // unsigned integer
    case 1: // negative integer
      return p;
    case 2: // byte string
      return arg > n - p ? NOT_WELL_FORMED : p + arg;
    case 3: // text string
      if (arg > n - p) return NOT_WELL_FORMED;
      return utf8(b, p, p + arg) ? p + arg : NOT_WELL_FORMED;
    case 4: // array
      if (arg > n - p) return NOT_WELL_FORMED; // each item takes at least one byte
      for (let i = 0; i < arg; i++) {
        p = cborItemEnd(b, p, depth + 1);
        if (p < 0) return NOT_WELL_FORMED;
      }
      return p;
    case 5: // map
      if (arg > (n - p) / 2) return NOT_WELL_FORMED;
      for (let i = 0; i < 2 * arg; i++) {
        p = cborItemEnd(b, p, depth + 1);
        if (p < 0) return NOT_WELL_FORMED;
      }
      return p;
    case 6: // tag: one enclosed item
      return cborItemEnd(b, p, depth + 1);
    default: // 7: simple values and floats; a one-byte simple value below 32 is not well-formed
      return (b[pos]! & 0x1f) === 24 && arg < 32 ? NOT_WELL_FORMED : p;
  }
}

/** Indefinite-length items (ai 31): strings of definite chunks, arrays and maps up to a break (0xff). */
function indefinite(b: Uint8Array, major: number, p: number, depth: number): number {
  const n = b.length;
  if (major === 2 || major === 3) {
    for (;;) {
      if (p >= n) return NOT_WELL_FORMED;
      if (b[p] === 0xff) return p + 1;
      if (b[p]! >> 5 !== major || (b[p]! & 0x1f) === 31) return NOT_WELL_FORMED; // chunks: same type, definite
      p = cborItemEnd(b, p, depth + 1);
      if (p < 0) return NOT_WELL_FORMED;
    }
  }
  if (major !== 4 && major !== 5) return NOT_WELL_FORMED; // integers, tags; a lone break (major 7)
  let items = 0;
  for (;;) {
    if (p >= n) return NOT_WELL_FORMED;
    if (b[p] === 0xff) return major === 5 && items % 2 === 1 ? NOT_WELL_FORMED : p + 1;
    p = cborItemEnd(b, p, depth + 1);
    if (p < 0) return NOT_WELL_FORMED;
    items++;
  }
}

/** ASCII by a byte loop (the common case, no allocation); anything else by Node's UTF-8 validator. */
function utf8(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  for (; i + 4 <= to; i += 4) if ((b[i]! | b[i + 1]! | b[i + 2]! | b[i + 3]!) & 0x80) return isUtf8(b.subarray(from, to));
  for (; i < to; i++) if (b[i]! & 0x80) return isUtf8(b.subarray(from, to));
  return true;
}

/**
 * The argument of the head at `pos` (an integer's value, a string's length, a container's count), or -1
 * if truncated, reserved or indefinite; afterHead() is then where the head ends.
 */
export function argumentAt(b: Uint8Array, pos: number): number {
  return pos < b.length && readHead(b, pos) ? headArg : NOT_WELL_FORMED;
}
export const afterHead = (): number => headEnd;

/** If the item at `pos` is a map of no entries (0xa0, or a longer head of length 0), where it ends; else -1. */
export function emptyMapEnd(b: Uint8Array, pos: number): number {
  if (b[pos]! >> 5 !== 5 || !readHead(b, pos) || headArg !== 0) return NOT_WELL_FORMED;
  return headEnd;
}

/**
 * Where the map at `pos` ends if it is well-formed and every key is a text string (as WAMP dictionaries
 * need); -1 otherwise. One walk serves both checks.
 */
export function textKeyedMapEnd(b: Uint8Array, pos: number): number {
  if (pos >= b.length || b[pos]! >> 5 !== 5 || !readHead(b, pos)) return NOT_WELL_FORMED;
  const indefinite = headArg < 0;
  const count = indefinite ? Infinity : headArg;
  let p = headEnd;
  if (!indefinite && count > (b.length - p) / 2) return NOT_WELL_FORMED; // each pair takes two bytes at least
  for (let i = 0; i < count; i++) {
    if (p >= b.length) return NOT_WELL_FORMED;
    if (indefinite && b[p] === 0xff) return p + 1;
    if (b[p]! >> 5 !== 3) return NOT_WELL_FORMED;
    p = cborItemEnd(b, p, 1); // key
    if (p < 0) return NOT_WELL_FORMED;
    p = cborItemEnd(b, p, 1); // value
    if (p < 0) return NOT_WELL_FORMED;
  }
  return p;
}
