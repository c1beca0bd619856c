import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { diffTable, elementCommands, parseListing, type TableDiff, type TableState } from './compare.js';
import { FAMILY, TABLE, type NftCommand, type NftDocument } from './nft-json.js';
import { planTransaction, type FirewallPlan } from './plan.js';
import { elementCommandsText, locateNftError, transactionText } from './render-text.js';
import { carryBans } from './ssh-ban.js';

/** The adapter: applies plans with the real `nft -j`, reads our table back. Only `table inet bulwark` is touched. */

export interface NftOptions {
  /** Run inside this network namespace (tests, bench). */
  netns?: string;
  timeoutMs?: number;
}

export class NftApplyError extends Error {
  constructor(
    message: string,
    readonly nftMessage: string,
    readonly offending?: { line?: string; set?: string },
  ) {
    super(message);
    this.name = 'NftApplyError';
  }
}

/** nft reads input files with open(), which fails on a socket stdin; so the document goes through a 0600 temp file. */
async function withTempFile<T>(content: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-nft-'));
  const file = join(dir, 'input');
  try {
    await writeFile(file, content, { mode: 0o600 });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function nftJsonFile(doc: NftDocument, opts: NftOptions & { check?: boolean } = {}): Promise<{ code: number; stderr: string }> {
  return withTempFile(JSON.stringify(doc), async (f) => {
    const r = await run(['nft', ...(opts.check ? ['-c'] : []), '-j', '-f', f], { netns: opts.netns, timeoutMs: opts.timeoutMs ?? 60_000 });
    return { code: r.code, stderr: r.stderr };
  });
}

async function nftTextFile(text: string, opts: NftOptions & { check?: boolean }): Promise<{ code: number; stderr: string }> {
  return withTempFile(text, async (f) => {
    const r = await run(['nft', ...(opts.check ? ['-c'] : []), '-f', f], { netns: opts.netns, timeoutMs: opts.timeoutMs ?? 60_000 });
    return { code: r.code, stderr: r.stderr };
  });
}

/**
 * Applies a JSON document as one transaction. nft's JSON errors don't say which element was wrong, so on failure
 * the same commands are checked as text (`nft -c`), whose error points at a line: that names the element.
 */
export async function applyDocument(doc: NftDocument, text: string, opts: NftOptions = {}): Promise<void> {
  const r = await nftJsonFile(doc, opts);
  if (r.code === 0) return;
  const nftMessage = r.stderr.replace(/^internal:0:0-0: /gm, '').trim();
  const check = await nftTextFile(text, { ...opts, check: true });
  const where = check.code !== 0 ? locateNftError(check.stderr, text) : undefined;
  const what = where?.line ? `${where.set ? `element ${where.line} of set ${where.set}` : where.line}: ${where.message}` : nftMessage;
  throw new NftApplyError(`nft rejected the ruleset, nothing changed: ${what}`, nftMessage, where);
}

/** Our table as nft lists it; null when it doesn't exist. */
export async function readTable(opts: NftOptions = {}): Promise<TableState | null> {
  const r = await run(['nft', '-j', 'list', 'table', FAMILY, TABLE], { netns: opts.netns, timeoutMs: opts.timeoutMs ?? 30_000 });
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return null;
    throw new Error(`nft list table ${FAMILY} ${TABLE}: ${r.stderr.trim()}`);
  }
  return parseListing(r.stdout);
}

/** The raw JSON of our table (what a rollback restores), or null. */
export async function readTableJson(opts: NftOptions = {}): Promise<string | null> {
  const r = await run(['nft', '-j', 'list', 'table', FAMILY, TABLE], { netns: opts.netns, timeoutMs: opts.timeoutMs ?? 30_000 });
  return r.code === 0 ? r.stdout : null;
}

export async function readRuleset(opts: NftOptions = {}): Promise<string> {
  const r = await run(['nft', '-j', 'list', 'ruleset'], { netns: opts.netns, timeoutMs: opts.timeoutMs ?? 30_000 });
  if (r.code !== 0) throw new Error(`nft list ruleset: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Replaces our whole table atomically; `extra` commands (the carried-over SSH bans) join the same transaction. */
export async function replaceTable(plan: FirewallPlan, opts: NftOptions = {}, extra: NftCommand[] = []): Promise<void> {
  const doc = planTransaction(plan);
  await applyDocument({ nftables: [...doc.nftables, ...extra] }, transactionText(plan) + (extra.length ? elementCommandsText(extra) : ''), opts);
}

export async function applyElementCommands(cmds: NftCommand[], opts: NftOptions = {}): Promise<void> {
  if (cmds.length === 0) return;
  await applyDocument({ nftables: cmds }, elementCommandsText(cmds), opts);
}

export type ApplyMode = 'unchanged' | 'elements' | 'replace';

/**
 * Brings the live table to the plan with the smallest change: nothing when equal, add/delete element when only set
 * contents differ (the rest stays loaded, counters and meters keep their state), else one replace transaction.
 */
export async function applyPlan(plan: FirewallPlan, opts: NftOptions & { forceReplace?: boolean } = {}): Promise<{ mode: ApplyMode; before: TableDiff }> {
  const live = await readTable(opts);
  const before = diffTable(plan, live);
  if (before.equal && !opts.forceReplace) return { mode: 'unchanged', before };
  if (before.elementsOnly && !opts.forceReplace) {
    await applyElementCommands(elementCommands(before.elements), opts);
    return { mode: 'elements', before };
  }
  await replaceTable(plan, opts, carryBans(plan.sets, live));
  return { mode: 'replace', before };
}

/** Restores our table from a saved `nft -j list table` listing (rollback). Other tables are untouched. */
export async function restoreTableJson(listing: string | null, opts: NftOptions = {}): Promise<void> {
  const t = { family: FAMILY, name: TABLE };
  const cmds: NftCommand[] = [{ add: { table: t } }, { delete: { table: t } }];
  if (listing !== null) {
    const st = parseListing(listing);
    cmds.push({ add: { table: t } });
    for (const s of st.sets) {
      const { handle: _h, ...set } = s;
      void _h;
      // meters are dynamic; their entries are not restored
      if (set.flags?.includes('timeout')) delete set.elem;
      cmds.push({ add: { set } });
    }
    for (const c of st.chains) {
      const { handle: _h, ...chain } = c;
      void _h;
      cmds.push({ add: { chain } });
    }
    for (const r of st.rules) {
      const { handle: _h, ...rule } = r;
      void _h;
      cmds.push({ add: { rule } });
    }
  }
  const r = await nftJsonFile({ nftables: cmds }, opts);
  if (r.code !== 0) throw new Error(`restoring the previous table failed: ${r.stderr.trim()}`);
}
