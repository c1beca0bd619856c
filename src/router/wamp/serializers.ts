import { Packr } from 'msgpackr';
import { Encoder as CborEncoder } from 'cbor-x';
import { cborRoutedLane } from './cbor-routed.js';
import { RawPayload, expandRaw } from './raw-payload.js';

/**
 * The three WAMP serializers. JSON follows the spec's binary convention (a byte string travels as a
 * JSON string "\u0000" + base64); MessagePack and CBOR carry bytes natively. Integers beyond 32 bits
 * are sent as 64-bit integers (never as floats) so IDs stay integers for every client.
 */
export type SerializerId = 'json' | 'msgpack' | 'cbor';

export interface Serializer {
  id: SerializerId;
  /** RawSocket handshake serializer code. */
  rawsocket: number;
  /** WebSocket subprotocol. */
  subprotocol: string;
  /** True when frames are binary (WebSocket binary frames). */
  binary: boolean;
  encode(value: unknown): Buffer;
  /** Throws on undecodable input. */
  decode(data: Buffer): unknown;
  /**
   * The router's decode of an incoming message: like decode, but a serializer may keep the payload
   * (args/kwargs) as a trailing RawPayload (CBOR does). Throws on undecodable input.
   */
  decodeMessage(data: Buffer): unknown;
  /**
   * Where a serializer can write a message straight into a transport's buffer: its encoded size, or -1
   * when it cannot (then encode()). encodeInto writes those bytes at out[at].
   */
  encodedSize?(wire: unknown[]): number;
  encodeInto?(wire: unknown[], out: Buffer, at: number): void;
}

// ---- JSON with the \u0000+base64 binary convention ----
function hasBinary(v: unknown, depth = 0): boolean {
  if (depth > 64 || typeof v !== 'object' || v === null) return false;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (hasBinary(x, depth + 1)) return true;
    return false;
  }
  for (const k in v) if (hasBinary((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

function binaryReplacer(this: unknown, key: string, value: unknown): unknown {
  const orig = (this as Record<string, unknown>)[key];
  if (orig instanceof Uint8Array) return '\u0000' + Buffer.from(orig.buffer, orig.byteOffset, orig.byteLength).toString('base64');
  return value;
}

function binaryReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.charCodeAt(0) === 0) return Buffer.from(value.slice(1), 'base64');
  return value;
}

export const json: Serializer = {
  id: 'json',
  rawsocket: 1,
  subprotocol: 'wamp.2.json',
  binary: false,
  encode(wire) {
    const value = expandRaw(wire);
    return Buffer.from(hasBinary(value) ? JSON.stringify(value, binaryReplacer) : JSON.stringify(value), 'utf8');
  },
  decode(data) {
    const text = data.toString('utf8');
    // a NUL can only appear escaped inside a JSON string; only then pay for the reviver
    return text.includes('\\u0000') ? JSON.parse(text, binaryReviver) : JSON.parse(text);
  },
  decodeMessage(data) {
    return json.decode(data);
  },
};

// ---- integers beyond 32 bits as BigInt so msgpack/cbor write uint64/int64, not float64 ----
function needsWide(v: number): boolean {
  // beyond 64 bits an integral double stays a double (no integer format holds it)
  return Number.isInteger(v) && (v > 0xffffffff || v < -0x80000000) && v < 2 ** 64 && v >= -(2 ** 63);
}

/** Returns `v`, or a copy with wide integers as BigInt (copies only the paths that change). */
export function widenIntegers(v: unknown, depth = 0): unknown {
  if (typeof v === 'number') return needsWide(v) ? BigInt(v) : v;
  if (depth > 64 || typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      const y = widenIntegers(x, depth + 1);
      if (y !== x) {
        out ??= v.slice();
        out[i] = y;
      }
    }
    return out ?? v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v;
  let out: Record<string, unknown> | undefined;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    const y = widenIntegers(x, depth + 1);
    if (y !== x) {
      out ??= { ...o };
      out[k] = y;
    }
  }
  return out ?? v;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });
export const msgpack: Serializer = {
  id: 'msgpack',
  rawsocket: 2,
  subprotocol: 'wamp.2.msgpack',
  binary: true,
  encode: (wire) => packr.pack(widenIntegers(expandRaw(wire))),
  decode: (data) => packr.unpack(data),
  decodeMessage: (data) => packr.unpack(data),
};

// int64AsNumber is a decoder option cbor-x supports but does not declare in its Options type
const cborOptions = { useRecords: false, mapsAsObjects: true, tagUint8Array: false, int64AsNumber: true, pack: false };
const cborx = new CborEncoder(cborOptions);
const cborLane = cborRoutedLane({ encode: (v) => cborx.encode(widenIntegers(v)), decode: (b) => cborx.decode(b) });

export const cbor: Serializer = {
  id: 'cbor',
  rawsocket: 3,
  subprotocol: 'wamp.2.cbor',
  binary: true,
  encode(wire) {
    const last: unknown = Array.isArray(wire) ? wire[wire.length - 1] : undefined;
    if (last instanceof RawPayload && last.serializer === 'cbor') return cborLane.encode(wire as unknown[], last);
    return cborx.encode(widenIntegers(expandRaw(wire)));
  },
  decode: (data) => cborx.decode(data),
  decodeMessage: (data) => cborLane.decode(data) ?? cborx.decode(data),
  // a message whose payload crosses as CBOR bytes and whose head the lane writes itself (IDs, texts, {})
  encodedSize(wire) {
    const last: unknown = wire[wire.length - 1];
    return last instanceof RawPayload && last.serializer === 'cbor' ? cborLane.size(wire, last) : -1;
  },
  encodeInto(wire, out, at) {
    cborLane.encodeInto(wire, wire[wire.length - 1] as RawPayload, out, at);
  },
};

export const SERIALIZERS: Record<SerializerId, Serializer> = { json, msgpack, cbor };
export const BY_RAWSOCKET = new Map<number, Serializer>([json, msgpack, cbor].map((s) => [s.rawsocket, s]));
export const BY_SUBPROTOCOL = new Map<string, Serializer>([json, msgpack, cbor].map((s) => [s.subprotocol, s]));
