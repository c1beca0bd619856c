import type { Json, NftChain, NftRule, NftSet } from './nft-json.js';

/** Renders the JSON expressions the planner uses as nft text (the syntax `nft -f` reads). Pure. */

const QUOTED_META = new Set(['iifname', 'oifname']);

function obj(j: Json): Record<string, Json> | undefined {
  return j !== null && typeof j === 'object' && !Array.isArray(j) ? j : undefined;
}

export function exprText(j: Json, quote = false): string {
  if (j === null) return '';
  if (typeof j === 'string') return quote ? JSON.stringify(j) : j;
  if (typeof j === 'number' || typeof j === 'boolean') return String(j);
  if (Array.isArray(j)) return j.map((x) => exprText(x, quote)).join(',');
  const [k, v] = Object.entries(j)[0] ?? ['', null];
  const o = obj(v) ?? {};
  switch (k) {
    case 'payload':
      return `${String(o.protocol)} ${String(o.field)}`;
    case 'meta':
      return `meta ${String(o.key)}`;
    case 'ct':
      return `ct ${String(o.key)}`;
    case 'concat':
      return (v as Json[]).map((x) => exprText(x)).join(' . ');
    case 'prefix':
      return `${String(o.addr)}/${String(o.len)}`;
    case '&':
      return (v as Json[]).map((x) => exprText(x)).join(' & ');
    case 'elem':
      return `${exprText(o.val as Json)}${o.timeout !== undefined ? ` timeout ${String(o.timeout)}s` : ''}`;
    case 'range':
      return (v as Json[]).map((x) => exprText(x)).join('-');
    case 'set':
      return `{ ${(Array.isArray(v) ? v : [v]).map((x) => exprText(x, quote)).join(', ')} }`;
    default:
      return JSON.stringify(j);
  }
}

export function stmtText(j: Json): string {
  const [k, v] = Object.entries(obj(j) ?? {})[0] ?? ['', null];
  const o = obj(v) ?? {};
  switch (k) {
    case 'match': {
      const left = o.left as Json;
      const lo = obj(left);
      const quote = Boolean(lo && 'meta' in lo && QUOTED_META.has(String(obj(lo.meta as Json)?.key)));
      const op = o.op === '!=' ? '!= ' : '';
      return `${exprText(left)} ${op}${exprText(o.right as Json, quote)}`;
    }
    case 'counter':
      return 'counter';
    case 'limit':
      return `limit rate ${o.inv ? 'over ' : ''}${String(o.rate)}/${String(o.per)} burst ${String(o.burst ?? 5)} packets`;
    case 'log':
      return `log prefix ${JSON.stringify(String(o.prefix ?? ''))}`;
    case 'accept':
    case 'drop':
      return k;
    case 'set':
      return `${String(o.op)} ${String(o.set)} { ${[exprText(o.elem as Json), ...((o.stmt as Json[]) ?? []).map(stmtText)].join(' ')} }`;
    default:
      return `# unsupported ${JSON.stringify(j)}`;
  }
}

export function ruleText(r: NftRule): string {
  return r.expr.map(stmtText).join(' ') + (r.comment ? ` comment ${JSON.stringify(r.comment)}` : '');
}

export function setText(s: NftSet, indent = '\t'): string[] {
  const type = Array.isArray(s.type) ? s.type.join(' . ') : s.type;
  const lines = [`${indent}set ${s.name} {`, `${indent}\ttype ${type}`];
  if (s.size !== undefined) lines.push(`${indent}\tsize ${s.size}`);
  const flags = s.flags?.includes('timeout') ? ['dynamic', ...s.flags] : s.flags;
  if (flags?.length) lines.push(`${indent}\tflags ${flags.join(',')}`);
  if (s.timeout !== undefined) lines.push(`${indent}\ttimeout ${s.timeout}s`);
  if (s.elem?.length) {
    lines.push(`${indent}\telements = {`);
    s.elem.forEach((e, i) => {
      lines.push(`${indent}\t\t${exprText(e)}${i + 1 < (s.elem?.length ?? 0) ? ',' : ''}`);
    });
    lines.push(`${indent}\t}`);
  }
  lines.push(`${indent}}`);
  return lines;
}

/** The whole table as nft text, one rule or element a line (diff-friendly). */
export function tableText(t: { family: string; table: string; sets: NftSet[]; chains: NftChain[]; rules: NftRule[] }): string {
  const lines = [`table ${t.family} ${t.table} {`];
  for (const s of t.sets) lines.push(...setText(s), '');
  for (const c of t.chains) {
    lines.push(`\tchain ${c.name} {`);
    if (c.hook) lines.push(`\t\ttype ${c.type ?? 'filter'} hook ${c.hook} priority ${c.prio ?? 0}; policy ${c.policy ?? 'accept'};`);
    for (const r of t.rules.filter((x) => x.chain === c.name)) lines.push(`\t\t${ruleText(r)}`);
    lines.push('\t}', '');
  }
  if (lines[lines.length - 1] === '') lines.pop();
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** The replace transaction as nft text (what `plan` prints and what locates an error nft reports). */
export function transactionText(t: Parameters<typeof tableText>[0]): string {
  return `add table ${t.family} ${t.table}\ndelete table ${t.family} ${t.table}\n${tableText(t)}`;
}

/** add/delete element commands as nft text, one element a line. */
export function elementCommandsText(cmds: readonly object[]): string {
  const lines: string[] = [];
  for (const c of cmds) {
    const cc = c as { add?: unknown; delete?: unknown };
    const verb = cc.add ? 'add' : 'delete';
    const el = ((cc.add ?? cc.delete) as { element?: { family: string; table: string; name: string; elem: Json[] } }).element;
    if (!el) continue;
    lines.push(`${verb} element ${el.family} ${el.table} ${el.name} {`);
    el.elem.forEach((e, i) => {
      lines.push(`\t${exprText(e)}${i + 1 < el.elem.length ? ',' : ''}`);
    });
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}

/**
 * Finds what nft complained about in text it was given: `FILE:LINE:COL-COL: Error: MSG`. Returns the message, the
 * offending line (an element, a rule) and the set it belongs to, if any.
 */
export function locateNftError(stderr: string, text: string): { message: string; line?: string; set?: string } | undefined {
  const m = /^[^\n]*?:(\d+):\d+(?:-\d+)?: Error: ([^\n]*)/m.exec(stderr);
  if (!m) return undefined;
  const lines = text.split('\n');
  const idx = Number(m[1]) - 1;
  const line = lines[idx]?.trim().replace(/,$/, '');
  let set: string | undefined;
  for (let i = idx; i >= 0; i--) {
    const l = lines[i] ?? '';
    const sm = /^\s*set (\S+) \{/.exec(l) ?? /^(?:add|delete) element \S+ \S+ (\S+) \{/.exec(l);
    if (sm) {
      set = sm[1];
      break;
    }
    if (/^\s*(chain|table) /.test(l) || (i < idx && /^\s*}\s*$/.test(l) && i !== idx)) break;
  }
  return { message: m[2] ?? '', line, set };
}
