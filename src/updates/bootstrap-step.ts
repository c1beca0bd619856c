import type { Config } from '../config/schema.js';
import type { NodePrepStep } from '../core/cluster.js';
import { applySources, remoteUpdatesHost } from './apply.js';

/**
 * Bootstrap's `sources` step: the node's apt sources as `provisioning.packages` says (mirrors, the security
 * archive), over SSH before the packages step runs `apt-get update`. The agent keeps them so afterwards.
 */
export const sourcesStep: NodePrepStep<Config> = {
  name: 'sources',
  async run(cfg, _node, shell, distro) {
    const r = await applySources(remoteUpdatesHost(shell), { id: distro.id, codename: distro.codename }, cfg.provisioning.packages);
    const notes = r.notes.length ? ` (${r.notes.join('; ')})` : '';
    // an unchanged step says only that, as every bootstrap step does
    if (!r.changed.length) return { changed: false, detail: 'no changes' };
    return { changed: true, detail: `wrote ${r.changed.join(', ')}: ${r.summary}${notes}` };
  },
};
