import { cidrToString, minimizeCidrs, mustCidr, parseIp, type Cidr } from './cidr.js';
import { firewallFactsSchema, type FirewallFacts, type FirewallFactsInput } from './facts.js';
import {
  ACCEPT,
  DROP,
  FAMILY,
  TABLE,
  addToSet,
  anon,
  concat,
  counter,
  ctState,
  limit,
  log,
  match,
  meta,
  payload,
  prefix,
  setRef,
  type Json,
  type NftChain,
  type NftCommand,
  type NftDocument,
  type NftRule,
  type NftSet,
} from './nft-json.js';
import { mergeRanges, portRange, portsJson, rangeJson, type PortRange } from './ports.js';
import { firewallSchema, type FirewallConfig, type FirewallConfigInput } from './schema.js';
import { planSshBan } from './ssh-ban.js';

/** A summary of what the input chain accepts as NEW connections (used by the lockout guard and tests). */
export interface InputAllow {
  id: string;
  proto: 'tcp' | 'udp';
  ports: PortRange[];
  /** null: any source. */
  from: Cidr[] | null;
  /** Only on this interface. */
  iifname?: string;
}

export interface FirewallPlan {
  family: typeof FAMILY;
  table: typeof TABLE;
  sets: NftSet[];
  chains: NftChain[];
  rules: NftRule[];
  inputAllows: InputAllow[];
  /** Things the operator should know (e.g. "SSH closed: no management networks"). */
  notes: string[];
}

export const SET = {
  mgmt4: 'mgmt4',
  mgmt6: 'mgmt6',
  peers4: 'peers4',
  peers6: 'peers6',
  resolvers4: 'resolvers4',
  resolvers6: 'resolvers6',
  egress4: 'egress4',
  egress6: 'egress6',
  aptMirrors4: 'apt_mirrors4',
  aptMirrors6: 'apt_mirrors6',
  httpsMeter4: 'https_meter4',
  httpsMeter6: 'https_meter6',
  fabricPeers4: 'fabric_peers4',
  fabricPeers6: 'fabric_peers6',
} as const;

const ipOf = (v: 4 | 6) => (v === 4 ? 'ip' : 'ip6');
const addrType = (v: 4 | 6) => (v === 4 ? 'ipv4_addr' : 'ipv6_addr');
export const cidrJson = (c: Cidr): Json => {
  const s = cidrToString(c);
  return s.includes('/') ? prefix(s.slice(0, s.indexOf('/')), c.len) : s;
};
const split = (cs: readonly Cidr[]) => ({ 4: cs.filter((c) => c.v === 4), 6: cs.filter((c) => c.v === 6) });
const addrs = (list: readonly string[]): Cidr[] => minimizeCidrs(list.map((a) => mustCidr(a)));

/** ICMPv6 types IPv6 cannot work without (RFC 4890): errors and neighbour discovery. */
export const ICMPV6_IN_ERRORS = ['destination-unreachable', 'packet-too-big', 'time-exceeded', 'parameter-problem'];
export const ICMPV6_IN_ND = ['nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert'];
export const ICMPV6_OUT = ['destination-unreachable', 'packet-too-big', 'time-exceeded', 'parameter-problem', 'nd-router-solicit', 'nd-neighbor-solicit', 'nd-neighbor-advert', 'mld2-listener-report'];
export const ICMPV4_IN_ERRORS = ['destination-unreachable', 'time-exceeded', 'parameter-problem'];

/**
 * Egress allowlist as disjoint (address . proto . port-range) elements: nft rejects overlapping intervals in a
 * concatenated set, so port ranges are cut where any entry starts or ends and nested prefixes are dropped.
 */
export function egressElements(entries: readonly { to: readonly Cidr[]; proto: 'tcp' | 'udp'; ports: readonly PortRange[] }[]): { v: 4 | 6; cidr: Cidr; proto: 'tcp' | 'udp'; ports: PortRange }[] {
  const out: { v: 4 | 6; cidr: Cidr; proto: 'tcp' | 'udp'; ports: PortRange }[] = [];
  for (const v of [4, 6] as const) {
    for (const proto of ['tcp', 'udp'] as const) {
      // group destinations by identical port range
      const groups = new Map<string, { r: PortRange; cidrs: Cidr[] }>();
      for (const e of entries) {
        if (e.proto !== proto) continue;
        const cidrs = e.to.filter((c) => c.v === v);
        if (cidrs.length === 0) continue;
        for (const r of mergeRanges(e.ports)) {
          const k = `${r[0]}-${r[1]}`;
          const g = groups.get(k) ?? { r, cidrs: [] };
          g.cidrs.push(...cidrs);
          groups.set(k, g);
        }
      }
      if (groups.size === 0) continue;
      const gs = [...groups.values()];
      const bounds = [...new Set(gs.flatMap((g) => [g.r[0], g.r[1] + 1]))].sort((a, b) => a - b);
      let prev: { lo: number; hi: number; key: string; cidrs: Cidr[] } | undefined;
      const flush = () => {
        if (prev) for (const c of prev.cidrs) out.push({ v, cidr: c, proto, ports: [prev.lo, prev.hi] });
      };
      for (let i = 0; i + 1 < bounds.length; i++) {
        const lo = bounds[i] as number;
        const hi = (bounds[i + 1] as number) - 1;
        const cover = gs.filter((g) => g.r[0] <= lo && g.r[1] >= hi);
        if (cover.length === 0) {
          flush();
          prev = undefined;
          continue;
        }
        const cidrs = cover.length === 1 ? minimizeCidrs((cover[0] as { cidrs: Cidr[] }).cidrs) : minimizeCidrs(cover.flatMap((g) => g.cidrs));
        const key = cidrs.map(cidrToString).join(',');
        if (prev && prev.key === key && prev.hi + 1 === lo) prev.hi = hi;
        else {
          flush();
          prev = { lo, hi, key, cidrs };
        }
      }
      flush();
    }
  }
  return out;
}

/**
 * The pure planner: `firewall:` policy + node facts → the whole of `table inet bulwark`.
 * Accepts raw (unparsed) input too, so callers and tests can pass partial objects.
 */
export function planFirewall(cfgIn: FirewallConfig | FirewallConfigInput, factsIn: FirewallFacts | FirewallFactsInput): FirewallPlan {
  const cfg = firewallSchema.parse(cfgIn);
  const facts = firewallFactsSchema.parse(factsIn);
  const notes: string[] = [];
  const base = { family: FAMILY, table: TABLE } as const;
  const sets: NftSet[] = [];
  const rules: NftRule[] = [];
  const inputAllows: InputAllow[] = [];
  const addrSet = (name: string, v: 4 | 6, cidrs: Cidr[], interval: boolean) => {
    const s: NftSet = { ...base, name, type: addrType(v) };
    if (interval) s.flags = ['interval'];
    if (cidrs.length) s.elem = cidrs.map(cidrJson);
    sets.push(s);
  };
  const rule = (chain: string, comment: string, ...expr: Json[]) => rules.push({ ...base, chain, comment, expr });

  // ---- named sets ----
  const mgmt = split(addrs([...cfg.managementNetworks, ...facts.managementNetworks]));
  addrSet(SET.mgmt4, 4, mgmt[4], true);
  addrSet(SET.mgmt6, 6, mgmt[6], true);
  const selfEp = facts.self.endpoint;
  const peers = split(addrs(facts.peers.map((p) => p.endpoint).filter((e) => e !== selfEp)));
  addrSet(SET.peers4, 4, peers[4], false);
  addrSet(SET.peers6, 6, peers[6], false);
  const resolverList = cfg.egress.resolvers.length ? cfg.egress.resolvers : facts.resolvers.filter((r) => !isLoopback(r));
  const resolvers = split(addrs(resolverList));
  addrSet(SET.resolvers4, 4, resolvers[4], false);
  addrSet(SET.resolvers6, 6, resolvers[6], false);
  const egress = egressElements(cfg.egress.allow.map((a) => ({ to: a.to.map((t) => mustCidr(t)), proto: a.proto, ports: a.ports.map(portRange) })));
  for (const v of [4, 6] as const) {
    const elems = egress.filter((e) => e.v === v).map((e) => concat(cidrJson(e.cidr), e.proto, rangeJson(e.ports)));
    const s: NftSet = { ...base, name: v === 4 ? SET.egress4 : SET.egress6, type: [addrType(v), 'inet_proto', 'inet_service'], flags: ['interval'] };
    if (elems.length) s.elem = elems;
    sets.push(s);
  }
  // apt's mirrors: (address . port), for apt's download user only (rule out-apt-mirrors*)
  const mirrors = facts.aptMirrors ?? [];
  const mirrorElems = egressElements(
    mirrors.filter((m) => m.addresses.length).map((m) => ({ to: m.addresses.map((a) => mustCidr(a)), proto: 'tcp' as const, ports: [[m.port, m.port] as PortRange] })),
  );
  for (const m of mirrors) {
    if (!m.addresses.length) notes.push(`apt mirror ${m.url}: no address${m.error ? ` (${m.error})` : ''}, so apt cannot reach it`);
    else if (m.error) notes.push(`apt mirror ${m.url}: ${m.error}`);
  }
  if (facts.aptMirrors) {
    for (const v of [4, 6] as const) {
      const elems = mirrorElems.filter((e) => e.v === v).map((e) => concat(cidrJson(e.cidr), rangeJson(e.ports)));
      const s: NftSet = { ...base, name: v === 4 ? SET.aptMirrors4 : SET.aptMirrors6, type: [addrType(v), 'inet_service'], flags: ['interval'] };
      if (elems.length) s.elem = elems;
      sets.push(s);
    }
  }
  const lim = cfg.https.newConnectionLimit;
  for (const v of [4, 6] as const) {
    sets.push({ ...base, name: v === 4 ? SET.httpsMeter4 : SET.httpsMeter6, type: addrType(v), size: 65535, flags: ['timeout'], timeout: 60 });
  }
  // The fabric's route peers (their mesh addresses), when this node runs NATS.
  const fabricPeers = facts.fabricRoutes ? split(addrs(facts.fabricRoutes.peers)) : undefined;
  if (fabricPeers) {
    addrSet(SET.fabricPeers4, 4, fabricPeers[4], false);
    addrSet(SET.fabricPeers6, 6, fabricPeers[6], false);
  }
  // Named sets of sources for extra inbound services.
  cfg.inbound.forEach((s) => {
    if (!s.from.length) return;
    const f = split(addrs(s.from));
    addrSet(`in_${s.name.replace(/-/g, '_')}4`, 4, f[4], true);
    addrSet(`in_${s.name.replace(/-/g, '_')}6`, 6, f[6], true);
  });

  // ---- chains ----
  const chains: NftChain[] = [
    { ...base, name: 'input', type: 'filter', hook: 'input', prio: 0, policy: 'drop' },
    { ...base, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
    { ...base, name: 'output', type: 'filter', hook: 'output', prio: 0, policy: 'drop' },
  ];

  // ---- input ----
  const I = 'input';
  // Echo requests first: after the first one, conntrack sees a ping's later requests as "established".
  rule(I, 'in-loopback', match(meta('iifname'), 'lo'), counter(), ACCEPT);
  const meshCidr = facts.meshCidr ? mustCidr(facts.meshCidr) : undefined;
  const mif = facts.meshInterface;
  if (meshCidr) {
    rule(
      I,
      'in-mesh-ping',
      match(meta('iifname'), mif),
      match(payload(ipOf(meshCidr.v), 'saddr'), cidrJson(meshCidr)),
      match(payload(meshCidr.v === 4 ? 'icmp' : 'icmpv6', 'type'), 'echo-request'),
      counter(),
      ACCEPT,
    );
  }
  rule(I, 'in-ping4', match(payload('icmp', 'type'), 'echo-request'), limit(cfg.icmp.echoRate, 'second', cfg.icmp.echoBurst), counter(), ACCEPT);
  rule(I, 'in-ping6', match(payload('icmpv6', 'type'), 'echo-request'), limit(cfg.icmp.echoRate, 'second', cfg.icmp.echoBurst), counter(), ACCEPT);
  rule(I, 'in-ping4-over-limit', match(payload('icmp', 'type'), 'echo-request'), counter(), DROP);
  rule(I, 'in-ping6-over-limit', match(payload('icmpv6', 'type'), 'echo-request'), counter(), DROP);
  rule(I, 'in-established', ctState('established', 'related'), counter(), ACCEPT);
  rule(I, 'in-invalid', ctState('invalid'), counter(), DROP);
  rule(I, 'in-icmp4-errors', match(payload('icmp', 'type'), anon(ICMPV4_IN_ERRORS)), counter(), ACCEPT);
  rule(I, 'in-icmp6-errors', match(payload('icmpv6', 'type'), anon(ICMPV6_IN_ERRORS)), counter(), ACCEPT);
  rule(I, 'in-icmp6-nd', match(payload('ip6', 'hoplimit'), 255), match(payload('icmpv6', 'type'), anon(ICMPV6_IN_ND)), counter(), ACCEPT);
  const hp = cfg.https.port;
  for (const v of [4, 6] as const) {
    rule(
      I,
      `in-https-limit${v}`,
      match(payload('tcp', 'dport'), hp),
      ctState('new'),
      addToSet(v === 4 ? SET.httpsMeter4 : SET.httpsMeter6, payload(ipOf(v), 'saddr'), [limit(lim.rate, lim.per, lim.burst, true)]),
      counter(),
      DROP,
    );
  }
  rule(I, 'in-https', match(payload('tcp', 'dport'), hp), counter(), ACCEPT);
  inputAllows.push({ id: 'in-https', proto: 'tcp', ports: [[hp, hp]], from: null });
  if (cfg.httpRedirect || facts.httpRedirect) {
    rule(I, 'in-http-redirect', match(payload('tcp', 'dport'), 80), counter(), ACCEPT);
    inputAllows.push({ id: 'in-http-redirect', proto: 'tcp', ports: [[80, 80]], from: null });
  }
  // SSH brute force: banned sources dropped, new connections metered per source (src/firewall/ssh-ban.ts)
  const ban = planSshBan(cfg, { 4: SET.mgmt4, 6: SET.mgmt6 });
  for (const s of ban.sets) sets.push({ ...base, ...s });
  for (const r of ban.rules) rules.push({ ...base, ...r });
  const sp = cfg.ssh.port;
  if (cfg.ssh.fromAnywhere) {
    rule(I, 'in-ssh-any', match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    inputAllows.push({ id: 'in-ssh-any', proto: 'tcp', ports: [[sp, sp]], from: null });
    notes.push('SSH is open to every source (firewall.ssh.fromAnywhere: true)');
  } else {
    rule(I, 'in-ssh4', match(payload('ip', 'saddr'), setRef(SET.mgmt4)), match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    rule(I, 'in-ssh6', match(payload('ip6', 'saddr'), setRef(SET.mgmt6)), match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    inputAllows.push({ id: 'in-ssh', proto: 'tcp', ports: [[sp, sp]], from: [...mgmt[4], ...mgmt[6]] });
    if (mgmt[4].length + mgmt[6].length === 0) notes.push('SSH is closed to new connections: no management networks configured (firewall.managementNetworks)');
  }
  const wg = facts.wgPort;
  rule(I, 'in-wireguard4', match(payload('ip', 'saddr'), setRef(SET.peers4)), match(payload('udp', 'dport'), wg), counter(), ACCEPT);
  rule(I, 'in-wireguard6', match(payload('ip6', 'saddr'), setRef(SET.peers6)), match(payload('udp', 'dport'), wg), counter(), ACCEPT);
  inputAllows.push({ id: 'in-wireguard', proto: 'udp', ports: [[wg, wg]], from: [...peers[4], ...peers[6]] });
  if (meshCidr) {
    const ipk = ipOf(meshCidr.v);
    if (facts.meshPort !== undefined) {
      rule(I, 'in-mesh-agent', match(meta('iifname'), mif), match(payload(ipk, 'saddr'), cidrJson(meshCidr)), match(payload('tcp', 'dport'), facts.meshPort), counter(), ACCEPT);
      inputAllows.push({ id: 'in-mesh-agent', proto: 'tcp', ports: [[facts.meshPort, facts.meshPort]], from: [meshCidr], iifname: mif });
    }
  }
  // The agent's metrics and status page: management networks, and mesh members over bw0; never the public side.
  if (facts.metricsPort !== undefined) {
    const mp = facts.metricsPort;
    rule(I, 'in-metrics4', match(payload('ip', 'saddr'), setRef(SET.mgmt4)), match(payload('tcp', 'dport'), mp), counter(), ACCEPT);
    rule(I, 'in-metrics6', match(payload('ip6', 'saddr'), setRef(SET.mgmt6)), match(payload('tcp', 'dport'), mp), counter(), ACCEPT);
    inputAllows.push({ id: 'in-metrics', proto: 'tcp', ports: [[mp, mp]], from: [...mgmt[4], ...mgmt[6]] });
    if (meshCidr) {
      rule(I, 'in-metrics-mesh', match(meta('iifname'), mif), match(payload(ipOf(meshCidr.v), 'saddr'), cidrJson(meshCidr)), match(payload('tcp', 'dport'), mp), counter(), ACCEPT);
      inputAllows.push({ id: 'in-metrics-mesh', proto: 'tcp', ports: [[mp, mp]], from: [meshCidr], iifname: mif });
    }
  }
  // The fabric's routes (nats-server's cluster port): on the mesh interface, from the route peers' mesh addresses only.
  if (facts.fabricRoutes && fabricPeers) {
    const fp = facts.fabricRoutes.port;
    for (const v of [4, 6] as const) {
      if (fabricPeers[v].length === 0) continue;
      rule(
        I,
        `in-fabric-routes${v}`,
        match(meta('iifname'), mif),
        match(payload(ipOf(v), 'saddr'), setRef(v === 4 ? SET.fabricPeers4 : SET.fabricPeers6)),
        match(payload('tcp', 'dport'), fp),
        counter(),
        ACCEPT,
      );
    }
    inputAllows.push({ id: 'in-fabric-routes', proto: 'tcp', ports: [[fp, fp]], from: [...fabricPeers[4], ...fabricPeers[6]], iifname: mif });
  }
  for (const s of cfg.inbound) {
    const ports = s.ports.map(portRange);
    const pj = portsJson(s.ports);
    if (!s.from.length) {
      rule(I, `in-extra-${s.name}`, match(payload(s.proto, 'dport'), pj), counter(), ACCEPT);
      inputAllows.push({ id: `in-extra-${s.name}`, proto: s.proto, ports: mergeRanges(ports), from: null });
    } else {
      for (const v of [4, 6] as const) {
        rule(I, `in-extra-${s.name}${v}`, match(payload(ipOf(v), 'saddr'), setRef(`in_${s.name.replace(/-/g, '_')}${v}`)), match(payload(s.proto, 'dport'), pj), counter(), ACCEPT);
      }
      inputAllows.push({ id: `in-extra-${s.name}`, proto: s.proto, ports: mergeRanges(ports), from: addrs(s.from) });
    }
  }
  const dropTail = (chain: string, tag: string) => {
    if (cfg.logDrops.enabled) rule(chain, `${tag}-log`, limit(cfg.logDrops.rate, cfg.logDrops.per, cfg.logDrops.burst), log(`bulwark drop ${tag}: `));
    rule(chain, `${tag}-drop`, counter(), DROP);
  };
  dropTail(I, 'in');

  // ---- forward ----
  dropTail('forward', 'fwd');

  // ---- output ----
  const O = 'output';
  rule(O, 'out-established', ctState('established', 'related'), counter(), ACCEPT);
  rule(O, 'out-invalid', ctState('invalid'), counter(), DROP);
  rule(O, 'out-loopback', match(meta('oifname'), 'lo'), counter(), ACCEPT);
  rule(O, 'out-icmp6', match(payload('icmpv6', 'type'), anon(ICMPV6_OUT)), counter(), ACCEPT);
  if (cfg.egress.https) rule(O, 'out-https', match(payload('tcp', 'dport'), 443), counter(), ACCEPT);
  for (const v of [4, 6] as const) {
    rule(
      O,
      `out-dns${v}`,
      match(payload(ipOf(v), 'daddr'), setRef(v === 4 ? SET.resolvers4 : SET.resolvers6)),
      match(meta('l4proto'), anon(['tcp', 'udp'])),
      match(payload('th', 'dport'), 53),
      counter(),
      ACCEPT,
    );
  }
  if (resolvers[4].length + resolvers[6].length === 0) notes.push('DNS is closed: no resolvers configured (firewall.egress.resolvers) or found on the node');
  if (cfg.egress.ntp) rule(O, 'out-ntp', match(payload('udp', 'dport'), 123), counter(), ACCEPT);
  if (cfg.egress.dhcp) {
    rule(O, 'out-dhcp4', match(payload('udp', 'sport'), 68), match(payload('udp', 'dport'), 67), counter(), ACCEPT);
    rule(O, 'out-dhcp6', match(payload('udp', 'sport'), 546), match(payload('udp', 'dport'), 547), counter(), ACCEPT);
  }
  if (cfg.egress.aptHttp && facts.aptMirrorsOnly) {
    notes.push('egress.aptHttp: port 80 for apt only to the configured mirrors (provisioning.packages.mirrors)');
  } else if (cfg.egress.aptHttp) {
    if (facts.aptUid !== undefined) rule(O, 'out-apt-http', match(meta('skuid'), facts.aptUid), match(payload('tcp', 'dport'), 80), counter(), ACCEPT);
    else notes.push('egress.aptHttp: no _apt user on this node, so no port-80 rule for apt');
  }
  if (facts.aptMirrors) {
    // apt downloads as `_apt`; where there is no such user apt fetches as root, so the rule can't name a user
    const who = facts.aptUid !== undefined ? [match(meta('skuid'), facts.aptUid)] : [];
    if (facts.aptUid === undefined) notes.push('apt mirrors: no _apt user on this node, so their rule holds for every user');
    for (const v of [4, 6] as const) {
      rule(O, `out-apt-mirrors${v}`, ...who, match(concat(payload(ipOf(v), 'daddr'), payload('tcp', 'dport')), setRef(v === 4 ? SET.aptMirrors4 : SET.aptMirrors6)), counter(), ACCEPT);
    }
  }
  rule(O, 'out-wireguard4', match(payload('ip', 'daddr'), setRef(SET.peers4)), match(payload('udp', 'dport'), wg), counter(), ACCEPT);
  rule(O, 'out-wireguard6', match(payload('ip6', 'daddr'), setRef(SET.peers6)), match(payload('udp', 'dport'), wg), counter(), ACCEPT);
  if (meshCidr) {
    const ipk = ipOf(meshCidr.v);
    if (facts.meshPort !== undefined) {
      rule(O, 'out-mesh-agent', match(meta('oifname'), mif), match(payload(ipk, 'daddr'), cidrJson(meshCidr)), match(payload('tcp', 'dport'), facts.meshPort), counter(), ACCEPT);
    }
    if (facts.metricsPort !== undefined) {
      // scraping the other nodes' metrics over the mesh
      rule(O, 'out-metrics-mesh', match(meta('oifname'), mif), match(payload(ipk, 'daddr'), cidrJson(meshCidr)), match(payload('tcp', 'dport'), facts.metricsPort), counter(), ACCEPT);
    }
    if (facts.fabricRoutes && fabricPeers) {
      for (const v of [4, 6] as const) {
        if (fabricPeers[v].length === 0) continue;
        rule(
          O,
          `out-fabric-routes${v}`,
          match(meta('oifname'), mif),
          match(payload(ipOf(v), 'daddr'), setRef(v === 4 ? SET.fabricPeers4 : SET.fabricPeers6)),
          match(payload('tcp', 'dport'), facts.fabricRoutes.port),
          counter(),
          ACCEPT,
        );
      }
    }
    rule(
      O,
      'out-mesh-ping',
      match(meta('oifname'), mif),
      match(payload(ipk, 'daddr'), cidrJson(meshCidr)),
      match(payload(meshCidr.v === 4 ? 'icmp' : 'icmpv6', 'type'), 'echo-request'),
      counter(),
      ACCEPT,
    );
  }
  for (const v of [4, 6] as const) {
    rule(O, `out-allow${v}`, match(concat(payload(ipOf(v), 'daddr'), meta('l4proto'), payload('th', 'dport')), setRef(v === 4 ? SET.egress4 : SET.egress6)), counter(), ACCEPT);
  }
  dropTail(O, 'out');

  return { family: FAMILY, table: TABLE, sets, chains, rules, inputAllows, notes };
}

function isLoopback(ip: string): boolean {
  const p = parseIp(ip);
  if (!p) return false;
  return p.v === 4 ? p.bytes[0] === 127 : p.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** One atomic transaction: make sure the table exists, delete it, create it whole. Nothing else is touched. */
export function planTransaction(plan: FirewallPlan): NftDocument {
  const t = { family: plan.family, name: plan.table };
  const cmds: NftCommand[] = [{ add: { table: t } }, { delete: { table: t } }, { add: { table: t } }];
  for (const set of plan.sets) cmds.push({ add: { set } });
  for (const chain of plan.chains) cmds.push({ add: { chain } });
  for (const rule of plan.rules) cmds.push({ add: { rule } });
  return { nftables: cmds };
}
