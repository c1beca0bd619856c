import type { Config } from '../config/schema.js';
import type { ClusterStep } from '../core/cluster.js';

/**
 * After bootstrap: each node records its integrity manifest (Bulwark's files as just installed, the
 * packages' current state as the baseline), then runs a first check so `bulwark audit` has a result.
 */
export const integrityStep: ClusterStep<Config> = {
  name: 'integrity',
  async run(cfg, runner, say) {
    if (!cfg.hardening.integrity.enabled) return { changed: false, detail: 'disabled' };
    const names = cfg.nodes.map((n) => n.name);
    const made = await runner(names, ['integrity', 'manifest']);
    const failed = made.filter((r) => r.code !== 0);
    const ok = made.filter((r) => r.code === 0).map((r) => r.node);
    const recorded = made.filter((r) => r.code === 0 && !r.stdout.startsWith('manifest unchanged'));
    for (const r of recorded) say(r.node, `integrity: ${r.stdout.trim()}`);
    // a first result for `bulwark audit` (a node with changed files fails here, named)
    const checked = ok.length ? await runner(ok, ['integrity', 'check']) : [];
    for (const r of checked) if (r.code !== 0) failed.push(r);
    if (failed.length) throw new Error(failed.map((r) => `${r.node}: ${(r.stderr || r.stdout).trim()}`).join('; '));
    return { changed: recorded.length > 0, detail: recorded.length ? `manifest recorded on ${recorded.map((r) => r.node).join(', ')}` : 'no changes' };
  },
};
