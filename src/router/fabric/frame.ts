import { cbor } from '../wamp/serializers.js';

/**
 * A frame whose header is JSON text already and whose body is a WAMP message, encoded straight into the
 * frame when the serializer can (a payload kept as CBOR bytes is copied once).
 */
export function encodeWireFrame(headerJson: string, wire: unknown[]): Buffer {
  const hl = Buffer.byteLength(headerJson, 'utf8');
  const size = cbor.encodedSize ? cbor.encodedSize(wire) : -1;
  if (size >= 0) {
    const out = Buffer.allocUnsafe(2 + hl + size);
    out.writeUInt16BE(hl, 0);
    out.write(headerJson, 2, 'utf8');
    cbor.encodeInto!(wire, out, 2 + hl);
    return out;
  }
  const body = cbor.encode(wire);
  const out = Buffer.allocUnsafe(2 + hl + body.length);
  out.writeUInt16BE(hl, 0);
  out.write(headerJson, 2, 'utf8');
  body.copy(out, 2 + hl);
  return out;
}

/**
 * A directed fabric message: [u16 header length][header JSON][body]. The header says what it is and for
 * whom; the body is a WAMP message (CBOR, its payload bytes as they came when the sender had them raw).
 */
export function encodeFrame(header: object, body?: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(2 + h.length + (body?.length ?? 0));
  out.writeUInt16BE(h.length, 0);
  h.copy(out, 2);
  if (body) out.set(body, 2 + h.length);
  return out;
}

/** Throws on a frame too short for its header. */
export function decodeFrame(data: Uint8Array): { header: Record<string, unknown>; body: Buffer } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 2) throw new Error('fabric frame too short');
  const n = b.readUInt16BE(0);
  if (b.length < 2 + n) throw new Error('fabric frame header truncated');
  const header = JSON.parse(b.toString('utf8', 2, 2 + n)) as unknown;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('fabric frame header is not an object');
  // the body is copied: its bytes outlive the client's read buffer (raw payloads keep them)
  return { header: header as Record<string, unknown>, body: Buffer.from(b.subarray(2 + n)) };
}
