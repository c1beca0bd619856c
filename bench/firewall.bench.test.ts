import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyElementCommands, nftJsonFile, readTable } from '../src/firewall/nft.js';
import { planFirewall, planTransaction, SET } from '../src/firewall/plan.js';
import { run, runOk } from '../src/util/exec.js';

// Apply time of egress allowlists of 10 .. 100 000 elements (one nft -j transaction replacing table inet bulwark)
// and of one element added to the live set, next to iptables-nft-restore of the same allowlist as linear rules.
// Prints one `BENCH {json}` line per measure and a table with ratios. Goal: 10 000 elements under 200 ms.
const NS = 'bwb-fw';
const SIZES = [10, 1_000, 10_000, 100_000];
const FACTS = { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [{ name: 'n2', endpoint: '192.0.2.12' }], resolvers: ['192.0.2.53'] };
let dir = '';
const report = (o: object) => console.log(`BENCH ${JSON.stringify(o)}`);
const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bwb-fw-'));
  await run(['ip', 'netns', 'del', NS]);
  await runOk(['ip', 'netns', 'add', NS]);
});
afterAll(async () => {
  await run(['ip', 'netns', 'del', NS]);
  await rm(dir, { recursive: true, force: true });
});

it('apply time: nft -j (named set) vs iptables-nft-restore (linear rules)', async () => {
  const rows: string[] = [];
  for (const n of SIZES) {
    const to = Array.from({ length: n }, (_, i) => addr(i + 1));
    const tPlan0 = process.hrtime.bigint();
    const plan = planFirewall({ managementNetworks: ['198.51.100.0/24'], egress: { allow: [{ name: 'bulk', to, proto: 'tcp', ports: [5432] }] } }, FACTS);
    const planMs = Number(process.hrtime.bigint() - tPlan0) / 1e6;
    const doc = planTransaction(plan);
    const runs = n >= 100_000 ? 3 : 5;
    const nftMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      nftMs.push(
        await timed(async () => {
          const r = await nftJsonFile(doc, { netns: NS, timeoutMs: 300_000 });
          expect(r.stderr).toBe('');
        }),
      );
    }
    const live = await readTable({ netns: NS, timeoutMs: 300_000 });
    expect(live?.sets.find((s) => s.name === SET.egress4)?.elem?.length).toBe(n);
    const addMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const el = { concat: [addr(n + 100 + i), 'tcp', 5432] };
      addMs.push(await timed(() => applyElementCommands([{ add: { element: { family: 'inet', table: 'bulwark', name: SET.egress4, elem: [el] } } }], { netns: NS })));
    }
    const rules = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...to.map((a) => `-A OUTPUT -d ${a}/32 -p tcp -m tcp --dport 5432 -j ACCEPT`), 'COMMIT', ''].join(
      '\n',
    );
    const file = join(dir, `ipt-${n}.rules`);
    await writeFile(file, rules);
    const iptMs: number[] = [];
    for (let i = 0; i < runs; i++) iptMs.push(await timed(() => runOk(['iptables-nft-restore', file], { netns: NS, timeoutMs: 600_000 })));
    const iptAddMs: number[] = [];
    for (let i = 0; i < 5; i++)
      iptAddMs.push(await timed(() => runOk(['iptables-nft', '-A', 'OUTPUT', '-d', `${addr(n + 200 + i)}/32`, '-p', 'tcp', '--dport', '5432', '-j', 'ACCEPT'], { netns: NS, timeoutMs: 120_000 })));
    const m = {
      elements: n,
      planMs: Math.round(planMs),
      nftApplyMs: Math.round(median(nftMs)),
      nftAddOneMs: Math.round(median(addMs)),
      iptablesRestoreMs: Math.round(median(iptMs)),
      iptablesAddOneMs: Math.round(median(iptAddMs)),
    };
    report({ bench: 'firewall.apply', ...m, ratioApply: +(m.iptablesRestoreMs / Math.max(1, m.nftApplyMs)).toFixed(2), ...(n === 10_000 ? { goalMs: 200 } : {}) });
    rows.push(
      `${String(n).padStart(7)}  ${String(m.planMs).padStart(7)}  ${String(m.nftApplyMs).padStart(9)}  ${String(m.nftAddOneMs).padStart(9)}  ${String(m.iptablesRestoreMs).padStart(12)}  ${String(m.iptablesAddOneMs).padStart(11)}  ${(m.iptablesRestoreMs / Math.max(1, m.nftApplyMs)).toFixed(1).padStart(6)}x`,
    );
    await run(['iptables-nft', '-F', 'OUTPUT'], { netns: NS });
  }
  console.log(['elements  plan ms  nft apply  nft +1 el  ipt-restore  ipt +1 rule   ratio', ...rows].join('\n'));
});
