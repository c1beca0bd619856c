import { z } from 'zod';
import type { PeerMessageType } from '../core/peers.js';
import { WG_KEY } from './keys.js';
import type { SignedMessage } from './signing.js';

const key = z.string().regex(WG_KEY, 'must be a WireGuard public key');
const keyPair = z.strictObject({ oldPublicKey: key, newPublicKey: key });

/** Bodies of the messages agents send each other over the mesh, by type (validated at the edge). */
export const bodySchemas = {
  ping: z.strictObject({}),
  'rotate.stage': keyPair,
  // at: the instant (ms since the epoch) both sides switch, so the rotating node's new key and its peers'
  // allowed-ips move take effect together.
  'rotate.commit': keyPair.extend({ at: z.number().int().positive().optional() }),
  'rotate.status': keyPair,
  'rotate.finish': keyPair,
  'rotate.rollback': keyPair,
  'psk.offer': z.strictObject({ from: z.string(), to: z.string(), epoch: z.number().int().min(0), ciphertext: z.string().max(2000) }),
  'psk.rotate': z.strictObject({}),
  'members.remove': z.strictObject({ name: z.string() }),
  /** An ACME HTTP-01 answer for the cluster's shared name, to serve on port 80 until unpublished (src/certs). */
  'acme.publish': z.strictObject({
    name: z.string().max(253),
    token: z.string().regex(/^[A-Za-z0-9_-]{22,256}$/),
    keyAuthorization: z
      .string()
      .max(600)
      .regex(/^[A-Za-z0-9_-]{22,256}\.[A-Za-z0-9_-]{22,100}$/),
    challenge: z.literal('tls-alpn-01').optional(),
  }),
  'acme.unpublish': z.strictObject({ name: z.string().max(253), token: z.string().regex(/^[A-Za-z0-9_-]{22,256}$/), challenge: z.literal('tls-alpn-01').optional() }),
  /** The sender's NATS route certificate, PEM (src/fabric); answered with the receiver's. */
  'fabric.cert': z.strictObject({ cert: z.string().max(8000).startsWith('-----BEGIN CERTIFICATE-----') }),
  /** From a node to its own agent (signed with its own key): run a rotation here. */
  'rotate.run': z.strictObject({ what: z.enum(['wireguard', 'psk']) }),
} as const;
export type MessageType = keyof typeof bodySchemas;
/** Message types another capability answers through MeshNode.onMessage. */
export type CapabilityMessage = PeerMessageType;
export type Body<T extends MessageType> = z.infer<(typeof bodySchemas)[T]>;

export const envelopeSchema = z.strictObject({
  type: z.enum(Object.keys(bodySchemas) as [MessageType, ...MessageType[]]),
  from: z.string().max(64),
  to: z.string().max(64),
  ts: z.number(),
  nonce: z.string().max(64),
  body: z.unknown(),
  sig: z.string().max(200),
});

/** How a node reaches another node's agent: in production HTTP over the mesh, in tests a direct call. */
export interface MeshTransport {
  send(to: string, msg: SignedMessage): Promise<unknown>;
}

export class TransportError extends Error {
  override name = 'TransportError';
}
