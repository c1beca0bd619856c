import { createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';

/**
 * WAMP-CRA with salted secrets. The client derives key = base64(PBKDF2-HMAC-SHA256(secret, salt,
 * iterations, keylen)) and answers with base64(HMAC-SHA256(key, challenge)); we store only that
 * derived key, never the secret.
 */
export function deriveCraKey(secret: string, salt: string, iterations: number, keylen: number): string {
  return pbkdf2Sync(secret, salt, iterations, keylen, 'sha256').toString('base64');
}

export function craSignature(derivedKey: string, challenge: string): string {
  return createHmac('sha256', derivedKey).update(challenge).digest('base64');
}

export function verifyCra(derivedKey: string, challenge: string, signature: string): boolean {
  const want = Buffer.from(craSignature(derivedKey, challenge), 'utf8');
  const got = Buffer.from(signature, 'utf8');
  return got.length === want.length && timingSafeEqual(got, want);
}
