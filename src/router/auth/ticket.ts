import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Tickets are stored as "scrypt$N$r$p$salt$hash" (base64 salt and hash); verification recomputes
 * scrypt and compares in constant time.
 */
export function hashTicket(ticket: string, params = { N: 16384, r: 8, p: 1 }): string {
  const salt = randomBytes(16);
  const hash = scryptSync(ticket, salt, 32, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function verifyTicket(ticket: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const want = Buffer.from(parts[5]!, 'base64');
  const got = scryptSync(ticket, salt, want.length, { N, r, p, maxmem: 64 * 1024 * 1024 });
  return got.length === want.length && timingSafeEqual(got, want);
}
