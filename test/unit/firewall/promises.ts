import type { Json, NftRule } from '../../../src/firewall/nft-json.js';

/** Reads a planned rule's JSON back: which L4 protocol/ports it accepts and from where. Independent of the planner. */
export interface AcceptSummary {
  chain: string;
  comment?: string;
  protos: string[] | null;
  ports: [number, number][] | null;
  hasSaddr: boolean;
  iifname?: string;
  icmp: boolean;
}

const o = (j: Json | undefined): Record<string, Json> => (j && typeof j === 'object' && !Array.isArray(j) ? j : {});

function portsOf(right: Json): [number, number][] {
  const one = (x: Json): [number, number] => (typeof x === 'number' ? [x, x] : (o(x).range as [number, number]));
  const r = o(right);
  return 'set' in r ? (r.set as Json[]).map(one) : [one(right)];
}

export function summarizeAccept(r: NftRule): AcceptSummary | undefined {
  if (!r.expr.some((e) => o(e).accept !== undefined)) return undefined;
  const s: AcceptSummary = { chain: r.chain, comment: r.comment, protos: null, ports: null, hasSaddr: false, icmp: false };
  for (const e of r.expr) {
    const m = o(o(e).match);
    if (!m.left) continue;
    const left = o(m.left);
    const pl = o(left.payload);
    if (pl.field === 'dport') {
      s.ports = portsOf(m.right as Json);
      if (pl.protocol !== 'th') s.protos = [String(pl.protocol)];
    } else if (pl.field === 'saddr' || 'concat' in left) s.hasSaddr = true;
    else if (pl.protocol === 'icmp' || pl.protocol === 'icmpv6') s.icmp = true;
    const meta = o(left.meta);
    if (meta.key === 'l4proto') s.protos = Array.isArray(o(m.right as Json).set) ? (o(m.right as Json).set as string[]) : [String(m.right)];
    if (meta.key === 'iifname') s.iifname = String(m.right);
    if ('ct' in left) s.icmp = s.icmp || false;
  }
  return s;
}
