import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffTable } from '../../../src/firewall/compare.js';
import { nftJsonFile, readRuleset, readTable, replaceTable } from '../../../src/firewall/nft.js';
import { planFirewall, planTransaction } from '../../../src/firewall/plan.js';
import { transactionText } from '../../../src/firewall/render-text.js';
import { run } from '../../../src/util/exec.js';
import { firewallConfig, firewallFacts } from '../../unit/firewall/arbitraries.js';
import { addNetns, delNetns, inNs } from './netns.js';

const NS = 'bwt-fwp';
const OTHER = 'table ip other {\n\tchain c {\n\t\ttype filter hook input priority 10; policy accept;\n\t\ttcp dport 9999 counter accept\n\t}\n}\n';

function otherTable(ruleset: string): unknown {
  const doc = JSON.parse(ruleset) as { nftables: Record<string, { table?: string; name?: string; handle?: number }>[] };
  return doc.nftables.filter((o) => Object.values(o)[0]?.table === 'other' || (o.table && o.table.name === 'other'));
}

describe('generated plans against the real nft (property)', () => {
  beforeAll(async () => {
    await addNetns(NS);
    await run(['sh', '-c', `printf '%s' '${OTHER}' | ip netns exec ${NS} nft -f /dev/stdin`]);
    await inNs(NS, 'nft', 'list', 'table', 'ip', 'other');
  });
  afterAll(async () => {
    await delNetns(NS);
  });

  it('nft -c accepts the JSON and the text; once applied, nft lists exactly the plan; table ip other survives', async () => {
    const otherBefore = otherTable(await readRuleset({ netns: NS }));
    expect(otherBefore).toHaveLength(3);
    await fc.assert(
      fc.asyncProperty(firewallConfig, firewallFacts, async (cfg, facts) => {
        const plan = planFirewall(cfg, facts);
        const check = await nftJsonFile(planTransaction(plan), { netns: NS, check: true });
        expect(check.stderr).toBe('');
        expect(check.code).toBe(0);
        const { writeFile, rm } = await import('node:fs/promises');
        const f = `/tmp/bwt-fwp-${process.pid}.nft`;
        await writeFile(f, transactionText(plan));
        const textCheck = await run(['nft', '-c', '-f', f], { netns: NS });
        await rm(f, { force: true });
        expect(textCheck.stderr).toBe('');
        await replaceTable(plan, { netns: NS });
        const d = diffTable(plan, await readTable({ netns: NS }));
        expect(d.changes).toEqual([]);
        expect(otherTable(await readRuleset({ netns: NS }))).toEqual(otherBefore);
      }),
      { numRuns: 60 },
    );
  });
});
