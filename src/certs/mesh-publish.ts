/**
 * ACME answers (HTTP-01 or TLS-ALPN-01) for the cluster's shared name: the CA may ask any node (DNS points the name at all of
 * them), so before the CA is told to validate, the answer is published on every node over the mesh
 * (signed agent messages, `acme.publish`/`acme.unpublish`); there is no shared disk. A node's own name
 * is answered by that node alone.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { PeerMessenger } from '../core/peers.js';
import { publishAlpnLocal, publishLocal, unpublishAlpnLocal, unpublishLocal } from './store.js';

type Challenge = 'tls-alpn-01' | undefined;

/** This node's answer: an HTTP-01 token file, or (tls-alpn-01) a validation certificate for `name`. */
export async function publishHere(t: PublishTarget, token: string, keyAuthorization: string, name: string, challenge: Challenge): Promise<void> {
  if (challenge === 'tls-alpn-01') await publishAlpnLocal(t.challengeDir, name, keyAuthorization, t.config.apps.routerUid);
  else publishLocal(t.challengeDir, token, keyAuthorization, t.config.apps.routerUid);
}
export function unpublishHere(t: PublishTarget, token: string, name: string, challenge: Challenge): void {
  if (challenge === 'tls-alpn-01') unpublishAlpnLocal(t.challengeDir, name);
  else unpublishLocal(t.challengeDir, token);
}
const challengeOf = (t: PublishTarget): Challenge => (t.config.acme?.challenge === 'tls-alpn-01' ? 'tls-alpn-01' : undefined);

export interface PublishTarget {
  config: Config;
  challengeDir: string;
  log: Logger;
}

/** Publishes locally and, for the shared name, on every other member; throws naming each node that failed. */
export function meshPublisher(node: PeerMessenger, t: PublishTarget) {
  const challenge = challengeOf(t);
  const others = () => node.memberNames().filter((n) => n !== node.name);
  const shared = (name: string) => t.config.acme?.sharedName === name;
  return {
    async publish(token: string, keyAuthorization: string, name: string): Promise<void> {
      await publishHere(t, token, keyAuthorization, name, challenge);
      if (!shared(name)) return;
      const peers = others();
      const failed: string[] = [];
      await Promise.all(
        peers.map((p) =>
          node
            .send(p, 'acme.publish', { name, token, keyAuthorization, ...(challenge ? { challenge } : {}) })
            .catch((e: unknown) => failed.push(`${p}: ${e instanceof Error ? e.message : String(e)}`)),
        ),
      );
      if (failed.length) throw new Error(`the answer for ${name} could not be published on every node (${failed.join('; ')})`);
      t.log.info({ name, nodes: [node.name, ...peers] }, `${challenge ?? 'http-01'} answer published on every node`);
    },
    async unpublish(token: string, name: string): Promise<void> {
      unpublishHere(t, token, name, challenge);
      if (!shared(name)) return;
      await Promise.all(others().map((p) => node.send(p, 'acme.unpublish', { name, token, ...(challenge ? { challenge } : {}) }).catch(() => undefined)));
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
    await publishHere(t, b.token, b.keyAuthorization, b.name, b.challenge);
    t.log.info({ from, name: b.name }, `${b.challenge ?? 'http-01'} answer published for another node`);
    return { ok: true };
  });
  node.onMessage('acme.unpublish', async (from, b) => {
    const t = check(from, b.name);
    unpublishHere(t, b.token, b.name, b.challenge);
    return { ok: true };
  });
}
