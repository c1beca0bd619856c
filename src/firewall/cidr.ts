/** IPv4/IPv6 addresses and prefixes: parse, print the way nft prints them, compare. Pure. */

export type IpVersion = 4 | 6;

export interface Cidr {
  v: IpVersion;
  /** Network address (host bits zero), 4 or 16 bytes. */
  bytes: Uint8Array;
  len: number;
}

function parseV4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head = s;
  let v4tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    v4tail = parseV4(s.slice(lastColon + 1));
    if (!v4tail) return null;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return null;
  const toWords = (part: string): number[] | null => {
    if (part === '') return [];
    const ws = part.split(':');
    const out: number[] = [];
    for (const w of ws) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return null;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const left = toWords(dbl[0] ?? '');
  const right = dbl.length === 2 ? toWords(dbl[1] ?? '') : [];
  if (!left || !right) return null;
  let words: number[];
  if (dbl.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return null;
    words = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else words = left;
  if (words.length !== 8) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (v4tail) out.set(v4tail, 12);
  return out;
}

export function parseIp(s: string): { v: IpVersion; bytes: Uint8Array } | null {
  const v4 = parseV4(s);
  if (v4) return { v: 4, bytes: v4 };
  const v6 = parseV6(s);
  return v6 ? { v: 6, bytes: v6 } : null;
}

/** Formats like glibc inet_ntop (what nft prints): RFC 5952 compression, embedded IPv4 for ::ffff:a.b.c.d. */
export function formatIp(v: IpVersion, b: Uint8Array): string {
  if (v === 4) return Array.from(b).join('.');
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 7 && w[7] !== 1) || (best.len === 5 && w[5] === 0xffff))) {
      out += Array.from(b.slice(12)).join('.');
      break;
    }
    out += (w[i] ?? 0).toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

function maskBits(bytes: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; error: string };

/** "a.b.c.d", "a.b.c.d/len", "x::y", "x::/len". Host bits set is an error (it usually hides a typo). */
export function parseCidr(s: string): CidrParse {
  const [addr = '', lenText, extra] = s.split('/');
  if (extra !== undefined) return { ok: false, error: 'must be an address or address/prefix-length' };
  const ip = parseIp(addr);
  if (!ip) return { ok: false, error: 'must be an IPv4 or IPv6 address or CIDR' };
  const max = ip.v === 4 ? 32 : 128;
  let len = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return { ok: false, error: `prefix length must be 0..${max}` };
    len = Number(lenText);
  }
  const masked = maskBits(ip.bytes, len);
  if (!masked.every((x, i) => x === ip.bytes[i])) {
    return { ok: false, error: `has host bits set; did you mean ${formatIp(ip.v, masked)}/${len}?` };
  }
  return { ok: true, cidr: { v: ip.v, bytes: masked, len } };
}

export function mustCidr(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(`${s}: ${r.error}`);
  return r.cidr;
}

export function cidrToString(c: Cidr): string {
  const a = formatIp(c.v, c.bytes);
  return c.len === (c.v === 4 ? 32 : 128) ? a : `${a}/${c.len}`;
}

/** True when `outer` contains `inner` (same family, shorter-or-equal prefix, same network bits). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.v !== inner.v || outer.len > inner.len) return false;
  const m = maskBits(inner.bytes, outer.len);
  return m.every((x, i) => x === outer.bytes[i]);
}

export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.v !== b.v) return a.v - b.v;
  for (let i = 0; i < a.bytes.length; i++) {
    const d = (a.bytes[i] ?? 0) - (b.bytes[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.len - b.len;
}

/** Sorted, without duplicates and without prefixes contained in another (nft interval sets reject overlaps). */
export function minimizeCidrs(list: readonly Cidr[]): Cidr[] {
  // Sorted by network address, shorter prefix first: prefixes nest or are disjoint, so anything contained in an
  // earlier kept prefix is contained in the last kept one. O(n log n).
  const sorted = [...list].sort(compareCidr);
  const kept: Cidr[] = [];
  for (const c of sorted) {
    const last = kept[kept.length - 1];
    if (!last || !cidrContains(last, c)) kept.push(c);
  }
  return kept;
}

export function ipInCidr(ip: string, c: Cidr): boolean {
  const p = parseIp(ip);
  return p !== null && p.v === c.v && cidrContains(c, { v: p.v, bytes: p.bytes, len: p.v === 4 ? 32 : 128 });
}
