import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { run } from '../util/exec.js';
import { cidrToString, minimizeCidrs, mustCidr } from './cidr.js';
import { nftJsonFile } from './nft.js';
import { parseListing, stable, type TableState } from './compare.js';
import { FIREWALL_STATE_DIR } from './confirm.js';
import {
  ACCEPT,
  DROP,
  FAMILY,
  TABLE,
  anon,
  counter,
  ctState,
  match,
  meta,
  payload,
  setRef,
  type Json,
  type NftChain,
  type NftCommand,
  type NftDocument,
  type NftRule,
  type NftSet,
} from './nft-json.js';
import { cidrJson, ICMPV6_IN_ND, ICMPV6_OUT, planTransaction, type FirewallPlan } from './plan.js';
import { firewallSchema, type FirewallConfig, type FirewallConfigInput } from './schema.js';

/**
 * Fail-closed at boot. The agent keeps two files in the firewall state directory:
 *   last-applied.json  our table as it was last applied (a libnftables JSON transaction), rewritten
 *                      atomically after each pass that leaves the live table as planned;
 *   fallback.json      a minimal table derived from the config alone: drop everything, keep SSH from the
 *                      management networks and established connections (so nobody is locked out).
 * `bulwark-firewall.service` (rendered here) loads the first one with plain `nft -j -f`, else the second,
 * before network-pre.target: no packet passes before our table is in place, and the node needs no Node.js for
 * it. The agent then takes over as on every start.
 */

export const BOOT_UNIT = 'bulwark-firewall.service';
export const BOOT_UNIT_PATH = `/etc/systemd/system/${BOOT_UNIT}`;
export const LAST_APPLIED_FILE = 'last-applied.json';
export const FALLBACK_FILE = 'fallback.json';

export const bootFiles = (dir = FIREWALL_STATE_DIR) => ({ saved: join(dir, LAST_APPLIED_FILE), fallback: join(dir, FALLBACK_FILE) });

/**
 * The fail-closed fallback table (pure): every chain's policy drops; in: loopback, established/related,
 * IPv6 neighbour discovery, SSH from the management networks (or from anywhere when the config says
 * `ssh.fromAnywhere`); out: established/related, loopback, the ICMPv6 IPv6 needs. Same table name as the full
 * plan, so the agent's first apply replaces it in one transaction.
 */
export function planFallback(cfgIn: FirewallConfig | FirewallConfigInput): FirewallPlan {
  const cfg = firewallSchema.parse(cfgIn);
  const base = { family: FAMILY, table: TABLE } as const;
  const mgmt = minimizeCidrs(cfg.managementNetworks.map((a) => mustCidr(a)));
  const sets: NftSet[] = [];
  for (const v of [4, 6] as const) {
    const s: NftSet = { ...base, name: `mgmt${v}`, type: v === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: ['interval'] };
    const el = mgmt.filter((c) => c.v === v).map(cidrJson);
    if (el.length) s.elem = el;
    sets.push(s);
  }
  const chains: NftChain[] = ['input', 'forward', 'output'].map((hook) => ({ ...base, name: hook, type: 'filter', hook, prio: 0, policy: 'drop' }));
  const rules: NftRule[] = [];
  const rule = (chain: string, comment: string, ...expr: Json[]) => rules.push({ ...base, chain, comment, expr });
  const notes: string[] = [];
  const sp = cfg.ssh.port;
  rule('input', 'fallback-in-loopback', match(meta('iifname'), 'lo'), counter(), ACCEPT);
  rule('input', 'fallback-in-established', ctState('established', 'related'), counter(), ACCEPT);
  rule('input', 'fallback-in-invalid', ctState('invalid'), counter(), DROP);
  rule('input', 'fallback-in-icmp6-nd', match(payload('ip6', 'hoplimit'), 255), match(payload('icmpv6', 'type'), anon(ICMPV6_IN_ND)), counter(), ACCEPT);
  if (cfg.ssh.fromAnywhere) {
    rule('input', 'fallback-in-ssh-any', match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    notes.push('fallback: SSH open to every source (firewall.ssh.fromAnywhere: true)');
  } else {
    rule('input', 'fallback-in-ssh4', match(payload('ip', 'saddr'), setRef('mgmt4')), match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    rule('input', 'fallback-in-ssh6', match(payload('ip6', 'saddr'), setRef('mgmt6')), match(payload('tcp', 'dport'), sp), counter(), ACCEPT);
    if (mgmt.length === 0) notes.push('fallback: SSH closed too: no management networks configured (firewall.managementNetworks)');
  }
  rule('input', 'fallback-in-drop', counter(), DROP);
  rule('forward', 'fallback-fwd-drop', counter(), DROP);
  rule('output', 'fallback-out-established', ctState('established', 'related'), counter(), ACCEPT);
  rule('output', 'fallback-out-loopback', match(meta('oifname'), 'lo'), counter(), ACCEPT);
  rule('output', 'fallback-out-icmp6', match(payload('icmpv6', 'type'), anon(ICMPV6_OUT)), counter(), ACCEPT);
  rule('output', 'fallback-out-drop', counter(), DROP);
  const from = cfg.ssh.fromAnywhere ? null : mgmt;
  return { family: FAMILY, table: TABLE, sets, chains, rules, inputAllows: [{ id: 'fallback-in-ssh', proto: 'tcp', ports: [[sp, sp]], from }], notes };
}

/** fallback.json's text (pure): the fallback table as one replace transaction. */
export function renderFallback(cfg: FirewallConfig | FirewallConfigInput): string {
  return `${JSON.stringify(planTransaction(planFallback(cfg)), null, 1)}\n`;
}

function withoutHandle<T extends { handle?: number }>(o: T): Omit<T, 'handle'> {
  const { handle: _h, ...rest } = o;
  void _h;
  return rest;
}

/** Counters zeroed, so the saved file changes only when the table does. */
function zeroCounters(j: Json): Json {
  if (j === null || typeof j !== 'object') return j;
  if (Array.isArray(j)) return j.map(zeroCounters);
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(j)) out[k] = k === 'counter' && v !== null && typeof v === 'object' && !Array.isArray(v) ? { packets: 0, bytes: 0 } : zeroCounters(v);
  return out;
}

/**
 * The saved table (pure): a replace transaction rebuilt from `nft -j list table inet bulwark` output. Handles
 * dropped, counters zeroed, the entries of dynamic (timeout) sets left out: meters start empty.
 */
export function savedDocument(listing: string): NftDocument {
  const st = parseListing(listing);
  const t = { family: FAMILY, name: TABLE };
  const cmds: NftCommand[] = [{ add: { table: t } }, { delete: { table: t } }, { add: { table: t } }];
  for (const s of st.sets) {
    const set = withoutHandle(s);
    if (set.flags?.includes('timeout') || set.flags?.includes('dynamic')) delete set.elem;
    cmds.push({ add: { set } });
  }
  for (const c of st.chains) cmds.push({ add: { chain: withoutHandle(c) } });
  for (const r of st.rules) cmds.push({ add: { rule: { ...withoutHandle(r), expr: r.expr.map(zeroCounters) } } });
  return { nftables: cmds };
}

export function renderSaved(listing: string): string {
  return `${JSON.stringify(savedDocument(listing), null, 1)}\n`;
}

/** The table a saved (or fallback) transaction creates, for comparing with the live one. Pure. */
export function documentTable(text: string): TableState {
  const doc = JSON.parse(text) as NftDocument;
  if (!doc || !Array.isArray(doc.nftables)) throw new Error('not a libnftables JSON document');
  const st: TableState = { sets: [], chains: [], rules: [] };
  for (const c of doc.nftables) {
    if (!('add' in c)) continue;
    const o = c.add;
    if ('set' in o) st.sets.push(o.set);
    else if ('chain' in o) st.chains.push(o.chain);
    else if ('rule' in o) st.rules.push(o.rule);
  }
  return st;
}

/** The shell line the unit runs: the saved table, else the fallback; plain nft, no Node. Pure. */
export function bootScript(dir = FIREWALL_STATE_DIR): string {
  const f = bootFiles(dir);
  return [
    `if nft -j -f ${f.saved}; then echo "bulwark: loaded the last applied table inet bulwark";`,
    `elif nft -j -f ${f.fallback}; then echo "bulwark: the last applied ruleset is missing or broken: loaded the fail-closed fallback (SSH from the management networks only) until the agent applies the full table" >&2;`,
    'else echo "bulwark: neither the last applied ruleset nor the fallback loads" >&2; exit 1; fi',
  ].join(' ');
}

/** bulwark-firewall.service (pure). */
export function renderBootUnit(dir = FIREWALL_STATE_DIR): string {
  const f = bootFiles(dir);
  return `# Bulwark: table inet bulwark in place before any network comes up. Loads the ruleset the agent last
# applied (${f.saved}), or, when that is missing or broken, the fail-closed fallback
# derived from the config (${f.fallback}: everything dropped but SSH from the management networks).
# Plain nft, no Node.js. The agent replaces the table with its full plan when it starts. Installed by
# \`bulwark bootstrap\` and kept by the agent.
[Unit]
Description=Bulwark firewall at boot (last applied ruleset, else fail-closed fallback)
Documentation=file:///usr/lib/bulwark/README
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
# Debian's nftables.service loads /etc/nftables.conf, which starts with "flush ruleset": load after it.
After=nftables.service
Conflicts=shutdown.target
RequiresMountsFor=${dir}
ConditionPathExists=|${f.saved}
ConditionPathExists=|${f.fallback}

[Service]
Type=oneshot
RemainAfterExit=yes
StandardInput=null
ExecStart=/bin/sh -c '${bootScript(dir)}'
# nft needs netlink and CAP_NET_ADMIN, nothing else
CapabilityBoundingSet=CAP_NET_ADMIN
RestrictAddressFamilies=AF_NETLINK AF_UNIX
ProtectSystem=strict
ProtectHome=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
UMask=0077
LimitCORE=0

[Install]
WantedBy=sysinit.target
`;
}

async function writeIfChanged(path: string, content: string): Promise<boolean> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old === content) return false;
  writeFileAtomic(path, content, { mode: 0o600 });
  return true;
}

export interface BootFilesOptions {
  dir?: string;
  netns?: string;
}

/** Writes fallback.json when it differs from what the config renders. Returns whether it changed. */
export async function writeFallback(cfg: FirewallConfig | FirewallConfigInput, opts: BootFilesOptions = {}): Promise<boolean> {
  const dir = opts.dir ?? FIREWALL_STATE_DIR;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return writeIfChanged(bootFiles(dir).fallback, renderFallback(cfg));
}

/**
 * Saves the live table as last-applied.json (atomically, only when it changed). A table that nft would not
 * load again (`nft -c`) is not saved: the previous file stays. Returns whether the file changed; false too
 * when there is no table.
 */
export async function saveLastApplied(opts: BootFilesOptions = {}): Promise<boolean> {
  const dir = opts.dir ?? FIREWALL_STATE_DIR;
  const r = await run(['nft', '-j', 'list', 'table', FAMILY, TABLE], { netns: opts.netns, timeoutMs: 30_000 });
  if (r.code !== 0) return false;
  const text = renderSaved(r.stdout);
  const path = bootFiles(dir).saved;
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old === text) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const check = await nftCheck(text, opts.netns);
  if (!check.ok) throw new Error(`the live table would not load again, not saved: ${check.error}`);
  writeFileAtomic(path, text, { mode: 0o600 });
  return true;
}

/** `nft -c -j -f` of a document's text: would it load? */
export async function nftCheck(text: string, netns?: string): Promise<{ ok: boolean; error?: string }> {
  let doc: NftDocument;
  try {
    doc = JSON.parse(text) as NftDocument;
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const r = await nftJsonFile(doc, { netns, check: true });
  return r.code === 0 ? { ok: true } : { ok: false, error: r.stderr.trim().split('\n')[0] || `nft exited ${r.code}` };
}

/** The management networks a fallback keeps SSH open to (for notes and audit evidence). Pure. */
export function fallbackSshSources(cfgIn: FirewallConfig | FirewallConfigInput): string {
  const cfg = firewallSchema.parse(cfgIn);
  if (cfg.ssh.fromAnywhere) return 'any source';
  const m = minimizeCidrs(cfg.managementNetworks.map((a) => mustCidr(a))).map(cidrToString);
  return m.length ? m.join(', ') : 'nobody';
}

/** Stable JSON of a document, for equality checks. */
export const documentKey = (text: string): string => stable(JSON.parse(text));
