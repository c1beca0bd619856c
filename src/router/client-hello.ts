/**
 * Just enough of a TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) to tell an ACME TLS-ALPN-01
 * validation (RFC 8737) from an ordinary client before the handshake starts: the server name (SNI) and
 * the ALPN protocols offered. Pure; reads only the first handshake record.
 */

/** Largest first record we wait for (a TLS record is at most 2^14 bytes of payload). */
export const MAX_HELLO_RECORD = 5 + 16_384;

export type HelloPeek =
  /** Not all of the first record has arrived yet. */
  | { kind: 'more' }
  /** Not a ClientHello we can read (another protocol, SSLv2, a split handshake message): treat as ordinary. */
  | { kind: 'other' }
  | { kind: 'hello'; serverName?: string; alpn: string[] };

/** Reads the ClientHello at the start of `buf` (the bytes received so far). */
export function peekClientHello(buf: Buffer): HelloPeek {
  if (buf.length < 5) return buf.length > 0 && buf[0] !== 0x16 ? { kind: 'other' } : { kind: 'more' };
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return { kind: 'other' }; // handshake record, TLS 1.x
  const recLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recLen) return { kind: 'more' };
  const rec = buf.subarray(5, 5 + recLen);
  try {
    return parseHello(rec);
  } catch {
    return { kind: 'other' };
  }
}

function parseHello(rec: Buffer): HelloPeek {
  let p = 0;
  const need = (n: number) => {
    if (p + n > rec.length) throw new RangeError('short');
  };
  const u8 = (): number => {
    need(1);
    return rec[p++]!;
  };
  const u16 = (): number => {
    need(2);
    p += 2;
    return rec.readUInt16BE(p - 2);
  };
  const skip = (n: number): void => {
    need(n);
    p += n;
  };
  if (u8() !== 0x01) return { kind: 'other' }; // client_hello
  need(3);
  const bodyLen = (rec[p]! << 16) | (rec[p + 1]! << 8) | rec[p + 2]!;
  p += 3;
  if (4 + bodyLen > rec.length) return { kind: 'other' }; // spread over several records: not from an ACME CA
  skip(2 + 32); // legacy_version, random
  skip(u8()); // session id
  skip(u16()); // cipher suites
  skip(u8()); // compression methods
  const out: { kind: 'hello'; serverName?: string; alpn: string[] } = { kind: 'hello', alpn: [] };
  if (p === 4 + bodyLen) return out; // no extensions
  const extEnd = p + 2 + u16();
  if (extEnd > 4 + bodyLen) return { kind: 'other' };
  while (p < extEnd) {
    const type = u16();
    const len = u16();
    need(len);
    const ext = rec.subarray(p, p + len);
    p += len;
    if (type === 0) out.serverName = sniOf(ext);
    else if (type === 16) out.alpn = alpnOf(ext);
  }
  return out;
}

/** server_name (RFC 6066 §3): the first host_name entry. */
function sniOf(ext: Buffer): string | undefined {
  let p = 2;
  const end = Math.min(ext.length, 2 + ext.readUInt16BE(0));
  while (p + 3 <= end) {
    const type = ext[p]!;
    const len = ext.readUInt16BE(p + 1);
    if (type === 0 && p + 3 + len <= end) return ext.subarray(p + 3, p + 3 + len).toString('latin1');
    p += 3 + len;
  }
  return undefined;
}

/** application_layer_protocol_negotiation (RFC 7301 §3.1): the protocol names, in order. */
function alpnOf(ext: Buffer): string[] {
  const names: string[] = [];
  const end = Math.min(ext.length, 2 + ext.readUInt16BE(0));
  let p = 2;
  while (p < end) {
    const len = ext[p]!;
    if (len === 0 || p + 1 + len > end) throw new RangeError('bad ALPN list');
    names.push(ext.subarray(p + 1, p + 1 + len).toString('latin1'));
    p += 1 + len;
  }
  return names;
}

/** RFC 8737 §3: a validation offers `acme-tls/1` and nothing else. */
export const ACME_TLS_ALPN = 'acme-tls/1';
export const isAcmeValidation = (h: HelloPeek): h is { kind: 'hello'; serverName: string; alpn: string[] } =>
  h.kind === 'hello' && h.serverName !== undefined && h.alpn.length === 1 && h.alpn[0] === ACME_TLS_ALPN;
