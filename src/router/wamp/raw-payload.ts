import type { SerializerId } from './serializers.js';

/**
 * A message's application payload (args, or args and kwargs) kept in the encoding it arrived in: the
 * router reads the routing fields of a CALL, YIELD, PUBLISH or ERROR and forwards the payload's bytes
 * unchanged to peers speaking the same serializer (checked well-formed, never decoded). Other peers, and
 * the router's own procedures, get the values, decoded once on first use.
 */
export class RawPayload {
  private values: unknown[] | undefined;
  constructor(
    readonly serializer: SerializerId,
    /** The payload elements' encodings, back to back: source[start, end) (no view made per message). */
    readonly source: Buffer,
    readonly start: number,
    readonly end: number,
    /** 1 (args) or 2 (args, kwargs). */
    readonly count: number,
    private readonly decodeItems: (raw: RawPayload) => unknown[],
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  /** Copies the payload bytes into `target` at `at`; returns the number of bytes copied. */
  copyTo(target: Buffer, at: number): number {
    return copyBytes(this.source, this.start, this.end, target, at);
  }

  /** The same payload over a copy of its bytes (kept past the read buffer it arrived in: retention, history). */
  detached(): RawPayload {
    const copy = Buffer.allocUnsafe(this.length);
    this.copyTo(copy, 0);
    return new RawPayload(this.serializer, copy, 0, copy.length, this.count, this.decodeItems);
  }

  /** The payload elements as values: [args] or [args, kwargs]. */
  items(): unknown[] {
    return (this.values ??= this.decodeItems(this));
  }
}

/**
 * source[start, end) into target at `at` (the caller has checked the room); returns the count. What
 * Buffer#copy ends in (a TypedArray set from a view), without its argument checks and call layers, on a
 * path that runs once per delivery.
 */
export function copyBytes(source: Buffer, start: number, end: number, target: Buffer, at: number): number {
  const n = end - start;
  target.set(new Uint8Array(source.buffer, source.byteOffset + start, n), at);
  return n;
}

/** `wire` with a trailing RawPayload replaced by its values (for a peer of another serializer). */
export function expandRaw(wire: unknown): unknown {
  if (!Array.isArray(wire)) return wire;
  const last: unknown = wire[wire.length - 1];
  return last instanceof RawPayload ? [...wire.slice(0, -1), ...last.items()] : wire;
}
