import { createHash } from 'node:crypto';

/**
 * A subscription's or registration's ID from what it is (kind, match policy, URI): the same on every node
 * without asking anyone, in [1, 2^53]. Two nodes that make the subscription to `com.x` (exact) each on
 * their own give it the same ID, so an EVENT carries one subscription ID whichever node delivers it.
 * 53 bits of SHA-256: a collision between two of a realm's n URIs has odds of about n^2 / 2^54.
 */
export function derivedId(kind: 'sub' | 'reg', match: string, uri: string): number {
  const h = createHash('sha256').update(`${kind}\u0000${match}\u0000${uri}`).digest();
  // 21 high bits + 32 low bits
  return (h.readUInt32BE(0) >>> 11) * 2 ** 32 + h.readUInt32BE(4) + 1;
}

/** The claim key of a registration in the KV bucket (NATS keys allow [-/_=.a-zA-Z0-9]): hex of match + URI. */
export function claimKey(match: string, uri: string): string {
  return `r.${Buffer.from(`${match}\u0000${uri}`, 'utf8').toString('hex')}`;
}
