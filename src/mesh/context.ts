import type { Logger } from 'pino';
import type { KeyStore } from './keystore.js';
import type { Membership } from './members.js';
import type { Body, MessageType } from './protocol.js';
import type { MeshConfig } from './schema.js';
import type { WgDevice } from './wg.js';

/** A peer's key rotation this node has staged: both keys, and whether its allowed-ips moved to the new one. */
export interface StagedRotation {
  oldPublicKey: string;
  newPublicKey: string;
  moved: boolean;
}

/**
 * What the parts of one node's mesh share (MeshNode in runtime.ts holds it): its keys, interface and members,
 * the rotations in flight, the lock that serialises changes to the interface, and the signed-message sender.
 */
export interface MeshContext {
  readonly name: string;
  readonly mesh: MeshConfig;
  readonly log: Logger | undefined;
  readonly keys: KeyStore;
  readonly dev: WgDevice;
  readonly members: Membership;
  /** Rotations of peers this node has staged (peer name → keys). */
  readonly staged: Map<string, StagedRotation>;
  /** Which of our keys is loaded while we rotate. */
  loaded: 'current' | 'next';
  rotating: boolean;
  /** Serialises changes to this node's interface. */
  locked<T>(f: () => Promise<T>): Promise<T>;
  send<T extends MessageType>(to: string, type: T, body: Body<T>): Promise<unknown>;
}
