import type { Logger } from 'pino';

/** Bodies of the messages one capability sends to the same capability on other nodes (signed and checked by the mesh). */
export interface PeerMessages {
  /** An ACME answer for the cluster's shared name, served until unpublished (src/certs): HTTP-01 on port 80, or TLS-ALPN-01 on the TLS listener. */
  'acme.publish': { name: string; token: string; keyAuthorization: string; challenge?: 'tls-alpn-01' };
  'acme.unpublish': { name: string; token: string; challenge?: 'tls-alpn-01' };
  /** The sender's NATS route certificate (public; src/fabric); the answer carries the receiver's. */
  'fabric.cert': { cert: string };
}
export type PeerMessageType = keyof PeerMessages;

/**
 * Signed messages to the other nodes of the cluster, for capabilities other than the mesh. The mesh provides
 * it (src/mesh/peers.ts) and the composition root (src/cli/plugins.ts) hands it in, so no capability imports
 * the mesh.
 */
export interface PeerMessenger {
  /** This node's name. */
  readonly name: string;
  /** False until this node has its mesh keys. */
  ready(): boolean;
  /** The names of the current mesh members (this node included). */
  memberNames(): string[];
  send<T extends PeerMessageType>(to: string, type: T, body: PeerMessages[T]): Promise<unknown>;
  /** Answers `type` from other nodes (sender's signature and the body's shape already checked). */
  onMessage<T extends PeerMessageType>(type: T, fn: (from: string, body: PeerMessages[T]) => Promise<unknown>): void;
}

/** Makes (or returns the process's) messenger for this node and config. */
export type PeerMessengerFactory<C> = (config: C, nodeName: string, log: Logger) => Promise<PeerMessenger>;
