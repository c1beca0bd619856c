import { BlockList, isIP } from 'node:net';

/** What `wg show dump` tells about the peers (the mesh's parsed dump has this shape). */
export interface PeerDump {
  peers: readonly { publicKey: string; endpoint: string | null; latestHandshake: number; rxBytes: bigint; txBytes: bigint }[];
}

/** True when `ip` lies inside `cidr` (an address or address/len). Pure. */
export function inCidr(ip: string, cidr: string): boolean {
  const [net = '', lenS] = cidr.split('/');
  const v = isIP(ip);
  if (!v || isIP(net) !== v) return false;
  const type = v === 4 ? 'ipv4' : 'ipv6';
  const b = new BlockList();
  b.addSubnet(net, lenS === undefined ? (v === 4 ? 32 : 128) : Number(lenS), type);
  return b.check(ip, type);
}

/** A drop rule of `table inet bulwark` and its counter. */
export interface DropCounter {
  chain: string;
  /** The rule's comment: its stable id in the plan (e.g. in-drop, in-https-limit4, out-invalid). */
  rule: string;
  packets: number;
  bytes: number;
}

/**
 * The counters of every rule that drops, from `nft -j list table inet bulwark`. The plan puts an
 * anonymous counter on each rule and names it by comment, so no named counters are needed. Pure.
 */
export function dropCounters(nftJson: string): DropCounter[] {
  const doc = JSON.parse(nftJson) as { nftables?: Record<string, unknown>[] };
  const out: DropCounter[] = [];
  for (const item of doc.nftables ?? []) {
    const r = item.rule as { chain?: string; comment?: string; expr?: Record<string, unknown>[] } | undefined;
    if (!r || !Array.isArray(r.expr) || !r.expr.some((e) => 'drop' in e)) continue;
    const c = r.expr.find((e) => 'counter' in e)?.counter as { packets?: number; bytes?: number } | undefined;
    if (!c) continue;
    out.push({ chain: r.chain ?? '', rule: r.comment ?? '', packets: Number(c.packets ?? 0), bytes: Number(c.bytes ?? 0) });
  }
  return out;
}

export interface MeshLink {
  peer: string;
  endpoint: string | null;
  /** Seconds since the last handshake; null: never. */
  handshakeAgeSec: number | null;
  rxBytes: number;
  txBytes: number;
}

/** `wg show dump` + the members (name ↔ public key) → one link per known peer. Pure. */
export function meshLinks(dump: PeerDump | null, peers: readonly { name: string; publicKey: string; endpoint: string }[], nowSec: number): MeshLink[] {
  return peers.map((p) => {
    const a = dump?.peers.find((x) => x.publicKey === p.publicKey);
    return {
      peer: p.name,
      endpoint: a?.endpoint ?? p.endpoint,
      handshakeAgeSec: a && a.latestHandshake > 0 ? Math.max(0, nowSec - a.latestHandshake) : null,
      rxBytes: Number(a?.rxBytes ?? 0n),
      txBytes: Number(a?.txBytes ?? 0n),
    };
  });
}

/** One sample of Prometheus text: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of metric `name` in Prometheus text exposition (enough for our own output). Pure. */
export function samplesOf(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[2] ?? ''); l; l = re.exec(m[2] ?? '')) labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    out.push({ name, labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * Where the agent listens for metrics: its mesh address (when it has one) and each local address inside
 * the management networks; never a wildcard, never an address outside those. Pure.
 */
export function listenAddresses(localAddrs: readonly string[], managementNetworks: readonly string[], meshAddress: string | undefined): string[] {
  const out: string[] = [];
  if (meshAddress) out.push(meshAddress);
  for (const ip of localAddrs) if (!out.includes(ip) && managementNetworks.some((c) => inCidr(ip, c))) out.push(ip);
  return out;
}
