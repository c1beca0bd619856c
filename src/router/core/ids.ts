import { randomInt } from 'node:crypto';

/** Global-scope IDs (sessions, publications): random in [1, 2^53]. */
export function globalId(): number {
  // randomInt caps at 2^48 - 1 per call: combine two draws for 53 bits
  const hi = randomInt(0, 2 ** 21);
  const lo = randomInt(0, 2 ** 32);
  return hi * 2 ** 32 + lo + 1;
}

/** Router- or session-scope IDs: sequential from 1, wrapping before 2^53. */
export class IdSequence {
  private next = 1;
  take(): number {
    const id = this.next;
    this.next = this.next >= 2 ** 53 ? 1 : this.next + 1;
    return id;
  }
}
