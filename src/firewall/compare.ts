import { z } from 'zod';
import { FAMILY, TABLE, type Json, type NftChain, type NftCommand, type NftRule, type NftSet } from './nft-json.js';
import { exprText, ruleText } from './render-text.js';

/** Our table as listed by `nft -j list table inet bulwark` (or as planned), without metainfo. */
export interface TableState {
  sets: NftSet[];
  chains: NftChain[];
  rules: NftRule[];
}

const jsonValue: z.ZodType<Json> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]));
const listingSchema = z.object({ nftables: z.array(z.record(z.string(), jsonValue)) });

/** Parses nft's JSON listing of one table (validated at the edge). Unknown object kinds are ignored. */
export function parseListing(text: string, table = TABLE, family = FAMILY): TableState {
  const doc = listingSchema.parse(JSON.parse(text));
  const st: TableState = { sets: [], chains: [], rules: [] };
  for (const o of doc.nftables) {
    const [kind, v] = Object.entries(o)[0] ?? ['', null];
    const x = v as Record<string, unknown> | null;
    if (!x || x.table !== table || x.family !== family) continue;
    if (kind === 'set') st.sets.push(x as unknown as NftSet);
    else if (kind === 'chain') st.chains.push(x as unknown as NftChain);
    else if (kind === 'rule') st.rules.push(x as unknown as NftRule);
  }
  return st;
}

/** JSON with sorted keys: equal values give equal strings. */
export function stable(j: unknown): string {
  if (j === null || typeof j !== 'object') return JSON.stringify(j);
  if (Array.isArray(j)) return `[${j.map(stable).join(',')}]`;
  return `{${Object.keys(j as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable((j as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

/**
 * IP protocols by name, as numbers: nft lists `meta l4proto` values and inet_proto set elements by name
 * (nftables 1.0, Debian 12) or by number (1.1, Debian 13) whatever they were loaded as.
 */
const IP_PROTOCOLS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, udplite: 136 };
function protoNumber(v: Json): Json {
  if (typeof v === 'string') return IP_PROTOCOLS[v] ?? v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Array.isArray(v.set)) return { ...v, set: v.set.map(protoNumber) };
  return v;
}
const isL4proto = (j: Json): boolean => j !== null && typeof j === 'object' && !Array.isArray(j) && stable(j.meta) === stable({ key: 'l4proto' });

/** Normalises an expression: counters zeroed, protocol names as numbers, anonymous set members sorted. */
function normExpr(j: Json): Json {
  if (j === null || typeof j !== 'object') return j;
  if (Array.isArray(j)) return j.map(normExpr);
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(j)) {
    if (k === 'counter') out[k] = { packets: 0, bytes: 0 };
    else if (k === 'match' && v !== null && typeof v === 'object' && !Array.isArray(v) && isL4proto(v.left ?? null)) out[k] = normExpr({ ...v, right: protoNumber(v.right ?? null) });
    else if (k === 'set' && Array.isArray(v)) out[k] = v.map(normExpr).sort((a, b) => (stable(a) < stable(b) ? -1 : stable(a) > stable(b) ? 1 : 0));
    else out[k] = normExpr(v);
  }
  return out;
}

const isMeter = (s: NftSet) => Boolean(s.flags?.includes('timeout') || s.flags?.includes('dynamic'));

export function normSet(s: NftSet): { def: string; elems: string[] } {
  const { handle: _h, elem, ...def } = s;
  void _h;
  const flags = (def.flags ?? []).filter((f) => f !== 'dynamic');
  const d: Record<string, unknown> = { ...def, flags };
  if (flags.length === 0) delete d.flags;
  const elems = isMeter(s) ? [] : (elem ?? []).map((e) => elemKey(s, e)).sort();
  return { def: stable(d), elems };
}

/** A set element's comparison key: normalised, its inet_proto part (if the set's type has one) as a number. */
function elemKey(s: NftSet, e: Json): string {
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const at = types.indexOf('inet_proto');
  if (at >= 0) {
    if (types.length === 1) e = protoNumber(e);
    else if (e !== null && typeof e === 'object' && !Array.isArray(e) && Array.isArray(e.concat)) {
      const parts = [...e.concat];
      parts[at] = protoNumber(parts[at] ?? null);
      e = { ...e, concat: parts };
    }
  }
  return stable(normExpr(e));
}
export function normChain(c: NftChain): string {
  const { handle: _h, ...rest } = c;
  void _h;
  return stable(rest);
}
export function normRule(r: NftRule): string {
  const { handle: _h, ...rest } = r;
  void _h;
  return stable({ ...rest, expr: rest.expr.map(normExpr) });
}

export interface SetElementDiff {
  set: string;
  add: Json[];
  remove: Json[];
}

export interface TableDiff {
  /** Live equals plan (after normalising handles, counters, dynamic meter contents and element order). */
  equal: boolean;
  /** Only set elements differ: fix with add/delete element, the rest stays loaded. */
  elementsOnly: boolean;
  elements: SetElementDiff[];
  /** Human-readable differences, e.g. "rule in-ssh4 missing", "extra rule in input: tcp dport 8080 accept". */
  changes: string[];
}

/** Compares a live table (null: absent) with the plan. Pure. */
export function diffTable(plan: TableState, live: TableState | null): TableDiff {
  if (!live) return { equal: false, elementsOnly: false, elements: [], changes: [`table ${FAMILY} ${TABLE} missing`] };
  const changes: string[] = [];
  let structural = false;
  const elements: SetElementDiff[] = [];
  const liveSets = new Map(live.sets.map((s) => [s.name, s]));
  for (const ps of plan.sets) {
    const ls = liveSets.get(ps.name);
    liveSets.delete(ps.name);
    if (!ls) {
      changes.push(`set ${ps.name} missing`);
      structural = true;
      continue;
    }
    const pn = normSet(ps);
    const ln = normSet(ls);
    if (pn.def !== ln.def) {
      changes.push(`set ${ps.name} definition differs`);
      structural = true;
      continue;
    }
    const lset = new Set(ln.elems);
    const pset = new Set(pn.elems);
    const add = (ps.elem ?? []).filter((e) => !lset.has(elemKey(ps, e)));
    const remove = (ls.elem ?? []).filter((e) => !pset.has(elemKey(ls, e)));
    if (!isMeter(ps) && (add.length || remove.length)) {
      elements.push({ set: ps.name, add, remove });
      changes.push(`set ${ps.name}: ${[...add.map((e) => `+${exprText(e)}`), ...remove.map((e) => `-${exprText(e)}`)].slice(0, 20).join(' ')}${add.length + remove.length > 20 ? ' …' : ''}`);
    }
  }
  for (const s of liveSets.keys()) {
    changes.push(`extra set ${s}`);
    structural = true;
  }
  const liveChains = new Map(live.chains.map((c) => [c.name, c]));
  for (const pc of plan.chains) {
    const lc = liveChains.get(pc.name);
    liveChains.delete(pc.name);
    if (!lc) changes.push(`chain ${pc.name} missing`);
    else if (normChain(pc) !== normChain(lc)) changes.push(`chain ${pc.name} differs (policy ${lc.policy ?? '-'}, planned ${pc.policy ?? '-'})`);
    else continue;
    structural = true;
  }
  for (const c of liveChains.keys()) {
    changes.push(`extra chain ${c}`);
    structural = true;
  }
  for (const chain of plan.chains.map((c) => c.name)) {
    const pr = plan.rules.filter((r) => r.chain === chain);
    const lr = live.rules.filter((r) => r.chain === chain);
    const n = Math.max(pr.length, lr.length);
    for (let i = 0; i < n; i++) {
      const p = pr[i];
      const l = lr[i];
      if (p && l && normRule(p) === normRule(l)) continue;
      structural = true;
      if (p && !l) changes.push(`rule ${p.comment ?? i} missing in ${chain}`);
      else if (!p && l) changes.push(`extra rule in ${chain}: ${ruleText(l)}`);
      else if (p && l) changes.push(`rule ${i} in ${chain} differs: live "${ruleText(l)}", planned "${ruleText(p)}"`);
    }
  }
  return { equal: changes.length === 0, elementsOnly: !structural && elements.length > 0, elements, changes };
}

/** add/delete element commands for an elements-only difference (deletes first so a replaced element fits). */
export function elementCommands(diffs: readonly SetElementDiff[]): NftCommand[] {
  const cmds: NftCommand[] = [];
  for (const d of diffs) if (d.remove.length) cmds.push({ delete: { element: { family: FAMILY, table: TABLE, name: d.set, elem: d.remove } } });
  for (const d of diffs) if (d.add.length) cmds.push({ add: { element: { family: FAMILY, table: TABLE, name: d.set, elem: d.add } } });
  return cmds;
}
