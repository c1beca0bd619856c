import { describe, expect, it } from 'vitest';
import { summarize } from '../../../src/agent/agent.js';

describe('agent status line', () => {
  it('says what was reconciled, repaired and failing', () => {
    expect(summarize(undefined)).toBe('starting');
    expect(summarize([{ name: 'firewall', changed: false, drift: [], notes: [] }])).toBe('1 capability reconciled, no drift');
    expect(
      summarize([
        { name: 'firewall', changed: true, drift: ['table inet bulwark missing'], notes: [] },
        { name: 'mesh', changed: false, drift: [], notes: [], error: 'wg: no such device' },
      ]),
    ).toBe('2 capabilities reconciled, 1 drift repaired, 1 failing: mesh');
    expect(summarize([], 'bulwark.yaml:3:1: x: unknown key "x"\nmore')).toBe('config error: bulwark.yaml:3:1: x: unknown key "x"');
  });
});
