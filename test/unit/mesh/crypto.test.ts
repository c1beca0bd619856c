import { describe, expect, it } from 'vitest';
import { decapsulatePsk, encapsulatePsk, encapsulator, generateKemKeyPair, kemPublicKeyOf } from '../../../src/mesh/psk.js';
import { canonicalJson, generateSigningKey, MessageVerifier, signingPublicKey, signMessage } from '../../../src/mesh/signing.js';
import { isWgKey } from '../../../src/mesh/keys.js';

describe('ML-KEM-768 pair PSK', () => {
  const a = generateKemKeyPair();
  const b = generateKemKeyPair();
  it('gives both nodes the same PSK from public keys and a ciphertext only', () => {
    expect(encapsulator('n2', 'n1')).toBe('n1');
    expect(kemPublicKeyOf(b.secretKey)).toEqual(b.publicKey);
    const { psk, offer } = encapsulatePsk('n1', a.publicKey, 'n2', b.publicKey, 7);
    expect(isWgKey(psk)).toBe(true);
    expect(JSON.stringify(offer)).not.toContain(psk);
    expect(decapsulatePsk(offer, b.secretKey, a.publicKey)).toBe(psk);
  });
  it('binds the epoch and the pair: a changed offer gives a different PSK', () => {
    const { psk, offer } = encapsulatePsk('n1', a.publicKey, 'n2', b.publicKey, 1);
    expect(decapsulatePsk({ ...offer, epoch: 2 }, b.secretKey, a.publicKey)).not.toBe(psk);
    const c = generateKemKeyPair();
    expect(decapsulatePsk(offer, c.secretKey, a.publicKey)).not.toBe(psk);
    expect(encapsulatePsk('n1', a.publicKey, 'n2', b.publicKey, 1).psk).not.toBe(psk);
  });
  it('refuses the wrong direction', () => {
    expect(() => encapsulatePsk('n2', b.publicKey, 'n1', a.publicKey, 1)).toThrow(/not the encapsulator/);
  });
});

describe('signed agent messages', () => {
  const sk = generateSigningKey();
  const keys = new Map([['n1', signingPublicKey(sk)]]);
  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  });
  it('accepts a good message once; rejects tampering, wrong recipient, unknown sender, replay, staleness', () => {
    const v = new MessageVerifier('n2', (n) => keys.get(n));
    const m = signMessage(sk, { type: 'stage', from: 'n1', to: 'n2', body: { publicKey: 'X' } });
    expect(v.verify(m).body).toEqual({ publicKey: 'X' });
    expect(() => v.verify(m)).toThrow(/replayed/);
    const m2 = signMessage(sk, { type: 'stage', from: 'n1', to: 'n2', body: { publicKey: 'X' } });
    expect(() => v.verify({ ...m2, body: { publicKey: 'Y' } })).toThrow(/bad signature/);
    expect(() => new MessageVerifier('n3', (n) => keys.get(n)).verify(m2)).toThrow(/for n2/);
    expect(() => v.verify({ ...m2, from: 'n9' })).toThrow(/unknown sender/);
    expect(() => v.verify(signMessage(sk, { type: 't', from: 'n1', to: 'n2', body: 1, ts: Date.now() - 600_000 }))).toThrow(/stale/);
    const other = generateSigningKey();
    expect(() => v.verify(signMessage(other, { type: 't', from: 'n1', to: 'n2', body: 1 }))).toThrow(/bad signature/);
  });
});
