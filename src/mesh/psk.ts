import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeKey } from './keys.js';

/**
 * Pair pre-shared keys from ML-KEM-768. For a pair, the node whose name sorts first encapsulates to the
 * other's KEM public key; both derive the PSK with HKDF-SHA256 over the shared secret, bound to both
 * names, both KEM public keys, the ciphertext and an epoch. Only public keys and the ciphertext travel.
 * The WireGuard keys are deliberately not in the derivation, so a WireGuard key rotation leaves the PSK be.
 */

export interface KemKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateKemKeyPair(): KemKeyPair {
  const kp = ml_kem768.keygen();
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

export function kemPublicKeyOf(secretKey: Uint8Array): Uint8Array {
  // An ML-KEM-768 decapsulation key embeds the encapsulation key at bytes 1152..2336.
  return secretKey.slice(1152, 1152 + 1184);
}

/** Which node of a pair encapsulates (the lower name). */
export function encapsulator(a: string, b: string): string {
  return a < b ? a : b;
}

function info(lower: string, upper: string, lowerKem: Uint8Array, upperKem: Uint8Array, ct: Uint8Array, epoch: number): Uint8Array {
  const head = Buffer.from(`bulwark-mesh-psk v1\0${lower}\0${upper}\0${epoch}\0`);
  return Buffer.concat([head, sha256(lowerKem), sha256(upperKem), sha256(ct)]);
}

function derive(ss: Uint8Array, i: Uint8Array): string {
  return encodeKey(hkdf(sha256, ss, new Uint8Array(0), i, 32));
}

export interface PskOffer {
  /** The encapsulating (lower-named) node. */
  from: string;
  to: string;
  epoch: number;
  /** Base64 ML-KEM-768 ciphertext (public). */
  ciphertext: string;
}

/** Run by the lower-named node: a new PSK for the pair and the offer to send to the peer. */
export function encapsulatePsk(self: string, selfKemPub: Uint8Array, peer: string, peerKemPub: Uint8Array, epoch: number): { psk: string; offer: PskOffer } {
  if (encapsulator(self, peer) !== self) throw new Error(`${self} is not the encapsulator for the pair ${self}/${peer}`);
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(peerKemPub);
  const psk = derive(sharedSecret, info(self, peer, selfKemPub, peerKemPub, cipherText, epoch));
  return { psk, offer: { from: self, to: peer, epoch, ciphertext: Buffer.from(cipherText).toString('base64') } };
}

/** Run by the higher-named node on an offer: the same PSK. */
export function decapsulatePsk(offer: PskOffer, selfKemSecret: Uint8Array, peerKemPub: Uint8Array): string {
  if (encapsulator(offer.from, offer.to) !== offer.from) throw new Error(`PSK offer from ${offer.from} to ${offer.to}: wrong direction`);
  const ct = new Uint8Array(Buffer.from(offer.ciphertext, 'base64'));
  if (ct.length !== 1088) throw new Error('PSK offer: ciphertext is not ML-KEM-768');
  const ss = ml_kem768.decapsulate(ct, selfKemSecret);
  return derive(ss, info(offer.from, offer.to, peerKemPub, kemPublicKeyOf(selfKemSecret), ct, offer.epoch));
}
