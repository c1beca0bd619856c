/**
 * The little DER a certificate's renewal information needs (RFC 9773 CertID): the Authority Key Identifier's
 * keyIdentifier, read from the certificate's bytes. Node's X509Certificate exposes no extensions, and a full
 * X.509 library costs a long-lived agent about 20 MB of memory for these few bytes. Pure.
 */

interface Tlv {
  tag: number;
  /** The content octets. */
  body: Buffer;
  /** Offset just after this element in the buffer it was read from. */
  end: number;
}

/** One DER element at `at` (low tag numbers only, definite lengths only: all DER allows). */
function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER high tag numbers are not used in certificates');
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new Error('truncated DER');
  return { tag, body: buf.subarray(p, p + len), end: p + len };
}

/** The elements inside a constructed element's content. */
function children(body: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < body.length; ) {
    const t = readTlv(body, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const OID = 0x06;
const OCTET_STRING = 0x04;
const EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate
const KEY_IDENTIFIER = 0x80; // [0] IMPLICIT OCTET STRING in AuthorityKeyIdentifier
/** 2.5.29.35 id-ce-authorityKeyIdentifier, as DER OID content. */
const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]);

/** The keyIdentifier of a DER certificate's Authority Key Identifier extension, or undefined when it has none. */
export function authorityKeyIdentifier(certDer: Buffer): Buffer | undefined {
  const cert = readTlv(certDer, 0);
  if (cert.tag !== SEQUENCE) throw new Error('not a DER certificate');
  const tbs = children(cert.body)[0];
  if (tbs?.tag !== SEQUENCE) throw new Error('not a DER certificate');
  const exts = children(tbs.body).find((t) => t.tag === EXTENSIONS);
  if (!exts) return undefined;
  const list = children(exts.body)[0];
  if (list?.tag !== SEQUENCE) throw new Error('bad certificate extensions');
  for (const ext of children(list.body)) {
    const [id, ...rest] = children(ext.body);
    if (id?.tag !== OID || !id.body.equals(AKI_OID)) continue;
    const value = rest.at(-1);
    if (value?.tag !== OCTET_STRING) throw new Error('bad authorityKeyIdentifier extension');
    const aki = readTlv(value.body, 0);
    if (aki.tag !== SEQUENCE) throw new Error('bad authorityKeyIdentifier extension');
    return children(aki.body).find((t) => t.tag === KEY_IDENTIFIER)?.body;
  }
  return undefined;
}
