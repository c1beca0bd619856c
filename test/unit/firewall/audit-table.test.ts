import { describe, expect, it } from 'vitest';
import { auditFailed, renderAudit, runProviders } from '../../../src/audit/run-providers.js';
import { parseConfig } from '../../../src/config/index.js';

const config = parseConfig('cluster: c\nnodes:\n  - {name: n1, ssh: root@198.51.100.11, endpoint: 192.0.2.11}\n');

describe('bulwark audit (pure parts)', () => {
  it('runs every provider, turns a crashing one into a failing check, and renders a table', async () => {
    const checks = await runProviders(
      [
        {
          name: 'a',
          run: async () => [
            { id: 'a.one', status: 'pass', evidence: 'policy drop' },
            { id: 'a.two', status: 'n/a', evidence: 'written, not live: read-only' },
          ],
        },
        {
          name: 'b',
          run: async () => {
            throw new Error('nft missing');
          },
        },
      ],
      { config, nodeName: 'n1' },
    );
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ['a.one', 'pass'],
      ['a.two', 'n/a'],
      ['b.provider', 'fail'],
    ]);
    expect(auditFailed([{ node: 'n1', checks }])).toBe(true);
    expect(auditFailed([{ node: 'n1', checks: checks.slice(0, 2) }])).toBe(false);
    const text = renderAudit([{ node: 'n1', checks }]);
    expect(text).toMatch(/^NODE\s+ID\s+STATUS\s+EVIDENCE$/m);
    expect(text).toMatch(/^n1\s+a\.two\s+N\/A\s+written, not live: read-only$/m);
    expect(text).toMatch(/^n1\s+b\.provider\s+FAIL\s+could not run: nft missing$/m);
    expect(text).toContain('n1: 1 pass, 1 fail, 1 n/a');
  });
});
