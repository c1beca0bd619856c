import { timingSafeEqual } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';

/** A WireGuard key in its usual form: 32 bytes, base64 (44 chars, ending in '='). */
export const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

export function isWgKey(s: string): boolean {
  return WG_KEY.test(s);
}

export function decodeKey(b64: string): Uint8Array {
  if (!isWgKey(b64)) throw new Error('not a WireGuard key (44 base64 characters)');
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

export function encodeKey(bytes: Uint8Array): string {
  if (bytes.length !== 32) throw new Error(`a WireGuard key is 32 bytes, got ${bytes.length}`);
  return Buffer.from(bytes).toString('base64');
}

/** Clamps a Curve25519 scalar the way `wg genkey` does. */
export function clamp(k: Uint8Array): Uint8Array {
  const c = new Uint8Array(k);
  c[0] = (c[0] ?? 0) & 248;
  c[31] = ((c[31] ?? 0) & 127) | 64;
  return c;
}

/** A new private key (base64), made here from the OS CSPRNG. */
export function generatePrivateKey(): string {
  return encodeKey(clamp(x25519.utils.randomSecretKey()));
}

/** The public key of a private key (both base64), as `wg pubkey` prints it. */
export function publicKeyOf(privateKey: string): string {
  return encodeKey(x25519.getPublicKey(decodeKey(privateKey)));
}

/** A random 32-byte key (base64), as `wg genpsk` makes. */
export function generatePsk(): string {
  return encodeKey(x25519.utils.randomSecretKey());
}

/** Constant-time equality of two base64 keys (or any strings). */
export function keysEqual(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a == null || b == null) return (a ?? null) === (b ?? null);
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
