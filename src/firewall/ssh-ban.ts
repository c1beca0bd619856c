import { formatIp } from './cidr.js';
import type { TableState } from './compare.js';
import { addToSet, counter, ctState, DROP, FAMILY, limit, match, payload, setRef, TABLE, type Json, type NftCommand, type NftRule, type NftSet } from './nft-json.js';
import type { FirewallConfig } from './schema.js';

/**
 * SSH brute force in nftables, what fail2ban would do: every NEW connection to the SSH port is metered per source
 * (dynamic set ssh_meter4/6); a source over the rate is put into ssh_ban4/6 with a timeout, and while it is there its
 * new SSH connections are dropped. Established sessions are accepted earlier in the chain, so a ban never cuts one.
 * Ban and meter contents are state, not policy: the comparison with the plan ignores them (compare.ts, timeout sets).
 */
export const BAN_SET = { ban4: 'ssh_ban4', ban6: 'ssh_ban6', meter4: 'ssh_meter4', meter6: 'ssh_meter6' } as const;
export const BAN_RULES = ['in-ssh-banned4', 'in-ssh-banned6', 'in-ssh-limit4', 'in-ssh-limit6'] as const;

const ipOf = (v: 4 | 6) => (v === 4 ? 'ip' : 'ip6');
const PER_SECONDS = { second: 1, minute: 60, hour: 3600 } as const;

/** The sets and input rules for the ban (empty when disabled). Placed before the SSH accept rules. Pure. */
export function planSshBan(cfg: FirewallConfig, mgmtSets: { 4: string; 6: string }): { sets: Omit<NftSet, 'family' | 'table'>[]; rules: Omit<NftRule, 'family' | 'table'>[] } {
  const bf = cfg.ssh.bruteForce;
  if (!bf.enabled) return { sets: [], rules: [] };
  const sp = cfg.ssh.port;
  const sets: Omit<NftSet, 'family' | 'table'>[] = [];
  const rules: Omit<NftRule, 'family' | 'table'>[] = [];
  // a meter entry lives at least one rate period, so a slow but steady source is still counted
  const meterTimeout = Math.max(60, PER_SECONDS[bf.per]);
  for (const v of [4, 6] as const) {
    const type = v === 4 ? 'ipv4_addr' : 'ipv6_addr';
    sets.push({ name: v === 4 ? BAN_SET.meter4 : BAN_SET.meter6, type, size: 65535, flags: ['timeout'], timeout: meterTimeout });
    sets.push({ name: v === 4 ? BAN_SET.ban4 : BAN_SET.ban6, type, size: 65535, flags: ['timeout'], timeout: bf.banSeconds });
  }
  // the key a source is metered and banned by: its address, or for IPv6 its prefix (address & mask)
  const key = (v: 4 | 6): Json => (v === 6 && bf.ipv6Prefix < 128 ? { '&': [payload('ip6', 'saddr'), ipv6Mask(bf.ipv6Prefix)] } : payload(ipOf(v), 'saddr'));
  for (const v of [4, 6] as const) {
    const saddr = payload(ipOf(v), 'saddr');
    const expr: Json[] = [match(key(v), setRef(v === 4 ? BAN_SET.ban4 : BAN_SET.ban6)), match(payload('tcp', 'dport'), sp)];
    // exempt means never dropped here either, even for a ban made before the exemption was turned on
    if (bf.exemptManagement) expr.push(match(saddr, setRef(mgmtSets[v]), '!='));
    rules.push({ chain: 'input', comment: `in-ssh-banned${v}`, expr: [...expr, counter(), DROP] });
  }
  for (const v of [4, 6] as const) {
    const saddr = payload(ipOf(v), 'saddr');
    const expr: Json[] = [match(payload('tcp', 'dport'), sp), ctState('new')];
    if (bf.exemptManagement) expr.push(match(saddr, setRef(mgmtSets[v]), '!='));
    expr.push(
      addToSet(v === 4 ? BAN_SET.meter4 : BAN_SET.meter6, key(v), [limit(bf.rate, bf.per, bf.burst, true)]), // no statement inside: nft lists such a set statement without a `stmt` key
      { set: { op: 'add', elem: key(v), set: setRef(v === 4 ? BAN_SET.ban4 : BAN_SET.ban6) } },
      counter(),
      DROP,
    );
    rules.push({ chain: 'input', comment: `in-ssh-limit${v}`, expr });
  }
  return { sets, rules };
}

/** The IPv6 netmask of a prefix length, as nft prints it (ffff:ffff:ffff:ffff:: for 64). Pure. */
export function ipv6Mask(len: number): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = len >= (i + 1) * 8 ? 0xff : len > i * 8 ? (0xff << (8 - (len - i * 8))) & 0xff : 0;
  return formatIp(6, b);
}

export interface SshBan {
  address: string;
  /** Seconds until the ban ends (nft's `expires`). */
  expiresIn: number;
}

/** The banned sources in a live table, soonest-ending last. Pure. */
export function bansOf(live: TableState | null): SshBan[] {
  const out: SshBan[] = [];
  for (const s of live?.sets ?? []) {
    if (s.name !== BAN_SET.ban4 && s.name !== BAN_SET.ban6) continue;
    for (const e of s.elem ?? []) {
      const el = elemOf(e);
      if (el) out.push(el);
    }
  }
  return out.sort((a, b) => b.expiresIn - a.expiresIn || (a.address < b.address ? -1 : 1));
}

function elemOf(e: Json): SshBan | undefined {
  if (typeof e === 'string') return { address: e, expiresIn: 0 };
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return undefined;
  const inner = e.elem;
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner) || inner === undefined) return undefined;
  const val = inner.val;
  if (typeof val !== 'string') return undefined;
  return { address: val, expiresIn: typeof inner.expires === 'number' ? inner.expires : Number(inner.timeout ?? 0) };
}

/**
 * Replacing the whole table (a policy change) would forget every ban: these commands put the live bans back into the
 * new table with the time they had left (appended to the replace transaction). Pure.
 */
export function carryBans(planSets: readonly NftSet[], live: TableState | null): NftCommand[] {
  const cmds: NftCommand[] = [];
  for (const name of [BAN_SET.ban4, BAN_SET.ban6]) {
    const planned = planSets.find((s) => s.name === name);
    const old = live?.sets.find((s) => s.name === name);
    if (!planned || !old || JSON.stringify(planned.type) !== JSON.stringify(old.type)) continue;
    const elem = (old.elem ?? [])
      .map(elemOf)
      .filter((b): b is SshBan => b !== undefined && b.expiresIn > 0)
      .map((b): Json => ({ elem: { val: b.address, timeout: b.expiresIn } }));
    if (elem.length) cmds.push({ add: { element: { family: FAMILY, table: TABLE, name, elem } } });
  }
  return cmds;
}
