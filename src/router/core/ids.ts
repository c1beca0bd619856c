import { randomFillSync } from 'node:crypto';

// CSPRNG bytes drawn 64 KiB at a time: one publication ID per PUBLISH must not cost a crypto call (a
// call's fixed cost dominates: 4 KiB draws cost ~12 ns per ID, 64 KiB ones ~2 ns)
const pool = new Uint32Array(16384);
let poolPos = pool.length;

/** Global-scope IDs (sessions, publications): random in [1, 2^53]. */
export function globalId(): number {
  if (poolPos + 2 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  // 21 high bits + 32 low bits = 53 random bits
  const hi = pool[poolPos]! >>> 11;
  const lo = pool[poolPos + 1]!;
  poolPos += 2;
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
