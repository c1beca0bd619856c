import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { PeerMessages, PeerMessageType, PeerMessenger } from '../core/peers.js';
import { sharedNodeMesh } from './node.js';
import type { Body } from './protocol.js';
import type { MeshNode } from './runtime.js';

/** Compile-time check: core's message bodies are exactly what the mesh's schemas accept (protocol.ts). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const bodiesAgree: { [T in PeerMessageType]: Same<PeerMessages[T], Body<T>> } = { 'acme.publish': true, 'acme.unpublish': true, 'fabric.cert': true };
void bodiesAgree;

/** Another capability's view of a node's mesh: signed messages to the members, and handlers for its own types. */
export function peerMessengerOf(node: MeshNode): PeerMessenger {
  return {
    name: node.name,
    ready: () => node.keys.initialized(),
    memberNames: () => node.getMembers().map((m) => m.name),
    // TypeScript can't see through the generic index on both sides; bodiesAgree above checks each type.
    send: (to, type, body) => node.send(to, type, body as Body<typeof type>),
    onMessage: (type, fn) => node.onMessage(type, fn as (from: string, body: Body<typeof type>) => Promise<unknown>),
  };
}

/** The messenger of this process's node runtime (src/cli/plugins.ts hands it to the capabilities that need it). */
export async function meshPeerMessenger(config: Config, nodeName: string, log: Logger): Promise<PeerMessenger> {
  return peerMessengerOf(sharedNodeMesh(config, nodeName, log));
}
