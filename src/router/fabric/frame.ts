/** A frame whose header is JSON text already and whose body is `bodies` one after the other (one copy). */
export function encodeBatchFrame(headerJson: string, bodies: readonly Uint8Array[]): Buffer {
  const hl = Buffer.byteLength(headerJson, 'utf8');
  let size = 4 + hl;
  for (const b of bodies) size += b.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(hl, 0);
  let at = 4 + out.write(headerJson, 4, 'utf8');
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

/** Throws on a frame too short for its header. */
export function decodeFrame(data: Uint8Array): { header: Record<string, unknown>; body: Buffer } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 4) throw new Error('fabric frame too short');
  const n = b.readUInt32BE(0);
  if (b.length < 4 + n) throw new Error('fabric frame header truncated');
  const header = JSON.parse(b.toString('utf8', 4, 4 + n)) as unknown;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('fabric frame header is not an object');
  // the body is copied: its bytes outlive the client's read buffer (raw payloads keep them)
  return { header: header as Record<string, unknown>, body: Buffer.from(b.subarray(4 + n)) };
}
