import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPOSURE_LIMITS } from '../../../src/containers/audit.js';
import { makeOfflineRoot, securityExposure, shippedUnits, unitsSourceDir, type OfflineRoot } from '../../../src/systemd/units.js';

// Every service unit Bulwark ships, scored by `systemd-analyze security --offline=yes` against a throwaway
// root: each must stay at or under its audit limit, and each limit must sit close above the score (within
// 0.3), so the audit check is one that fails when a unit loses sandboxing.
const dir = unitsSourceDir();
const services = shippedUnits(dir).filter((u) => u.endsWith('.service'));
const instance = (u: string) => u.replace('@.', '@audit.');
let root: OfflineRoot;
let scores: Map<string, { score: number; verdict: string }>;

beforeAll(async () => {
  root = makeOfflineRoot(shippedUnits(dir), dir);
  scores = await securityExposure(services.map(instance), root.root);
  process.stdout.write(`${services.map((u) => `exposure ${u}: ${scores.get(instance(u))?.score.toFixed(1)} (limit ${EXPOSURE_LIMITS[u]})`).join('\n')}\n`);
}, 60_000);
afterAll(() => root?.cleanup());

describe('unit exposure scores', () => {
  it('every shipped service unit has an exposure limit the audit checks', () => {
    expect(Object.keys(EXPOSURE_LIMITS).sort()).toEqual([...services].sort());
  });

  it.each(services)('%s scores at or under its limit, and the limit is within 0.3 of the score', (u) => {
    const s = scores.get(instance(u));
    const limit = EXPOSURE_LIMITS[u];
    expect(s, `no score for ${u}`).toBeDefined();
    expect(limit).toBeDefined();
    expect(s!.score).toBeLessThanOrEqual(limit!);
    expect(limit! - s!.score).toBeLessThanOrEqual(0.3 + 1e-9);
  });

  it('the check can fail: the router unit without its sandboxing scores over its limit', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const f = join(root.root, 'etc/systemd/system/bulwark-router.service');
    const text = readFileSync(f, 'utf8');
    try {
      writeFileSync(f, text.replace(/^(ProtectSystem|PrivateNetwork|RestrictAddressFamilies)=.*$/gm, ''));
      const loose = await securityExposure(['bulwark-router.service'], root.root);
      expect(loose.get('bulwark-router.service')!.score).toBeGreaterThan(EXPOSURE_LIMITS['bulwark-router.service']!);
    } finally {
      writeFileSync(f, text);
    }
  });
});
