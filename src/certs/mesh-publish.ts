/**
 * HTTP-01 answers for the cluster's shared name: the CA may ask any node (DNS points the name at all of
 * them), so before the CA is told to validate, the answer is published on every node over the mesh
 * (signed agent messages, `acme.publish`/`acme.unpublish`); there is no shared disk. A node's own name
 * is answered by that node alone.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { PeerMessenger } from '../core/peers.js';
import { publishLocal, unpublishLocal } from './store.js';

export interface PublishTarget {
  config: Config;
  challengeDir: string;
  log: Logger;
}

/** Publishes locally and, for the shared name, on every other member; throws naming each node that failed. */
export function meshPublisher(node: PeerMessenger, t: PublishTarget) {
  const gid = t.config.apps.routerUid;
  const others = () => node.memberNames().filter((n) => n !== node.name);
  const shared = (name: string) => t.config.acme?.sharedName === name;
  return {
    async publish(token: string, keyAuthorization: string, name: string): Promise<void> {
      publishLocal(t.challengeDir, token, keyAuthorization, gid);
      if (!shared(name)) return;
      const peers = others();
      const failed: string[] = [];
      await Promise.all(peers.map((p) => node.send(p, 'acme.publish', { name, token, keyAuthorization }).catch((e: unknown) => failed.push(`${p}: ${e instanceof Error ? e.message : String(e)}`))));
      if (failed.length) throw new Error(`the answer for ${name} could not be published on every node (${failed.join('; ')})`);
      t.log.info({ name, nodes: [node.name, ...peers] }, 'http-01 answer published on every node');
    },
    async unpublish(token: string, name: string): Promise<void> {
      unpublishLocal(t.challengeDir, token);
      if (!shared(name)) return;
      await Promise.all(others().map((p) => node.send(p, 'acme.unpublish', { name, token }).catch(() => undefined)));
    },
  };
}

/**
 * Lets other nodes publish answers here, only for the configured shared name (never for this node's own
 * name or any other), into this node's challenge directory. `current` gives the config of the moment.
 */
export function acceptMeshAnswers(node: PeerMessenger, current: () => PublishTarget | undefined): void {
  const check = (from: string, name: string): PublishTarget => {
    const t = current();
    if (!t?.config.acme?.sharedName) throw new Error('no acme.sharedName configured here');
    if (name !== t.config.acme.sharedName) throw new Error(`answers from other nodes are accepted for ${t.config.acme.sharedName} only, not ${name}`);
    if (!t.config.nodes.some((n) => n.name === from)) throw new Error(`${from} is not a configured node`);
    return t;
  };
  node.onMessage('acme.publish', async (from, b) => {
    const t = check(from, b.name);
    publishLocal(t.challengeDir, b.token, b.keyAuthorization, t.config.apps.routerUid);
    t.log.info({ from, name: b.name }, 'http-01 answer published for another node');
    return { ok: true };
  });
  node.onMessage('acme.unpublish', async (from, b) => {
    const t = check(from, b.name);
    unpublishLocal(t.challengeDir, b.token);
    return { ok: true };
  });
}
