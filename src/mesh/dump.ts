import { isWgKey } from './keys.js';

/** The interface line of `wg show IFACE dump` (the private key is read and dropped). */
export interface WgInterfaceState {
  publicKey: string | null;
  listenPort: number;
  fwmark: number | null;
}

/** One peer line of `wg show IFACE dump`. */
export interface WgPeerState {
  publicKey: string;
  /** The pre-shared key, or null for `(none)`. A secret: compare with keysEqual, never log. */
  presharedKey: string | null;
  /** "ip:port" / "[ip6]:port", or null for `(none)`. */
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the last handshake, 0 for never. */
  latestHandshake: number;
  rxBytes: bigint;
  txBytes: bigint;
  /** Seconds, or null for `off`. */
  keepalive: number | null;
}

export interface WgDump {
  iface: WgInterfaceState;
  peers: WgPeerState[];
}

export class DumpParseError extends Error {
  override name = 'DumpParseError';
}

const none = (s: string): string | null => (s === '(none)' ? null : s);
const offOrInt = (s: string, what: string): number | null => {
  if (s === 'off') return null;
  if (!/^\d+$/.test(s)) throw new DumpParseError(`${what}: expected a number or "off", got "${s}"`);
  return Number(s);
};
const u64 = (s: string, what: string): bigint => {
  if (!/^\d+$/.test(s)) throw new DumpParseError(`${what}: expected an unsigned integer, got "${s}"`);
  const v = BigInt(s);
  if (v >= 1n << 64n) throw new DumpParseError(`${what}: ${s} does not fit in 64 bits`);
  return v;
};

/** Parses the output of `wg show IFACE dump` (one interface). Pure; throws DumpParseError on nonsense. */
export function parseDump(text: string): WgDump {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const first = lines[0];
  if (first === undefined) throw new DumpParseError('empty dump');
  const f = first.split('\t');
  if (f.length !== 4) throw new DumpParseError(`interface line: expected 4 fields, got ${f.length}`);
  const pub = none(f[1] ?? '');
  if (pub !== null && !isWgKey(pub)) throw new DumpParseError('interface line: bad public key');
  const port = Number(f[2]);
  if (!/^\d+$/.test(f[2] ?? '') || port > 65535) throw new DumpParseError(`interface line: bad listen port "${f[2]}"`);
  const iface: WgInterfaceState = { publicKey: pub, listenPort: port, fwmark: offOrInt(f[3] ?? '', 'fwmark') };
  const peers = lines.slice(1).map((line, i): WgPeerState => {
    const p = line.split('\t');
    const at = `peer line ${i + 1}`;
    if (p.length !== 8) throw new DumpParseError(`${at}: expected 8 fields, got ${p.length}`);
    const [publicKey = '', psk = '', endpoint = '', allowed = '', hs = '', rx = '', tx = '', ka = ''] = p;
    if (!isWgKey(publicKey)) throw new DumpParseError(`${at}: bad public key`);
    const presharedKey = none(psk);
    if (presharedKey !== null && !isWgKey(presharedKey)) throw new DumpParseError(`${at}: bad preshared key`);
    const allowedIps = allowed === '(none)' || allowed === '' ? [] : allowed.split(',');
    return {
      publicKey,
      presharedKey,
      endpoint: none(endpoint),
      allowedIps,
      latestHandshake: Number(u64(hs, `${at} latest-handshake`)),
      rxBytes: u64(rx, `${at} transfer-rx`),
      txBytes: u64(tx, `${at} transfer-tx`),
      keepalive: offOrInt(ka, `${at} persistent-keepalive`),
    };
  });
  return { iface, peers };
}
