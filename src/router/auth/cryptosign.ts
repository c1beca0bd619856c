import { ed25519 } from '@noble/curves/ed25519.js';

/**
 * WAMP-cryptosign: the router sends 32 random bytes (hex); the client answers with hex of its
 * Ed25519 signature over them (64 bytes), optionally followed by the challenge itself (96 bytes).
 */
export function verifyCryptosign(pubkeyHex: string, challengeHex: string, signatureHex: string): boolean {
  if (!/^[0-9a-f]+$/i.test(signatureHex) || (signatureHex.length !== 128 && signatureHex.length !== 192)) return false;
  const sig = Buffer.from(signatureHex.slice(0, 128), 'hex');
  if (signatureHex.length === 192 && signatureHex.slice(128).toLowerCase() !== challengeHex.toLowerCase()) return false;
  try {
    return ed25519.verify(sig, Buffer.from(challengeHex, 'hex'), Buffer.from(pubkeyHex, 'hex'));
  } catch {
    return false;
  }
}
