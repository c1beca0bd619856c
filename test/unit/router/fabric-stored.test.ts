import { describe, expect, it } from 'vitest';
import { RetainedEvents } from '../../../src/router/core/retention.js';
import { eventRecord, type StoredEvent } from '../../../src/router/core/stored-event.js';
import { decodeStored, encodeStored, type StoredItem } from '../../../src/router/fabric/stored.js';
import { parseMessage } from '../../../src/router/wamp/messages.js';
import { cbor } from '../../../src/router/wamp/serializers.js';

const audience = { publisher: 7, excludeMe: true };

function stored(publication: number, payload: StoredEvent['payload'], extra: Partial<StoredEvent> = {}): StoredEvent {
  return { topic: 'com.example.t', publication, timestamp: 1_700_000_000_000 + publication, details: {}, payload, bytes: 10, audience, ...extra };
}

describe('retained and history events between nodes', () => {
  it('round-trip with their payload as kept: CBOR bytes, values, a transparent payload', () => {
    const raw = parseMessage(cbor.decodeMessage(cbor.encode([16, 1, {}, 'com.example.t', ['x', 2 ** 40], { k: [1, null] }]))).raw!.detached();
    const items: StoredItem[] = [
      { e: stored(1, { type: 16, raw }, { details: { publisher: 7, publisher_authid: 'a', publisher_authrole: 'backend' } }), retained: true, history: false },
      { e: stored(2, { type: 16, args: [1, 'two'], kwargs: { three: 3 } }, { audience: { ...audience, eligibleAuthrole: ['backend'] } }), retained: true, history: true },
      { e: stored(3, { type: 16, payload: Buffer.from([1, 2, 3]) }, { details: { ppt_scheme: 'x_custom', ppt_serializer: 'native' } }), retained: false, history: true },
    ];
    const frames = encodeStored('app', 'n1', items, 1 << 20);
    expect(frames).toHaveLength(1);
    const back = decodeStored(frames[0]!);
    expect(back.realm).toBe('app');
    expect(back.node).toBe('n1');
    expect(back.items.map((x) => [x.retained, x.history])).toEqual([
      [true, false],
      [true, true],
      [false, true],
    ]);
    for (const [i, x] of back.items.entries()) {
      const want = items[i]!.e;
      expect(x.e.publication).toBe(want.publication);
      expect(x.e.timestamp).toBe(want.timestamp);
      expect(x.e.details).toEqual(want.details);
      expect(x.e.audience).toEqual(want.audience);
      expect(eventRecord(x.e)).toEqual(eventRecord(want));
    }
    expect(back.items[0]!.e.payload.raw?.serializer).toBe('cbor'); // the bytes as they were, not values
    expect(Buffer.from(back.items[2]!.e.payload.payload as Uint8Array)).toEqual(Buffer.from([1, 2, 3]));
  });

  it('a whole store goes in frames of about the size asked; a bad frame is refused', () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ e: stored(i + 1, { type: 16, args: ['y'.repeat(1000)] }), retained: true, history: false }));
    const frames = encodeStored('app', 'n2', items, 8 * 1024);
    expect(frames.length).toBeGreaterThan(5);
    for (const f of frames) expect(f.length).toBeLessThan(10 * 1024);
    expect(frames.flatMap((f) => decodeStored(f).items.map((x) => x.e.publication))).toEqual(items.map((x) => x.e.publication));
    const f = frames[0]!;
    expect(() => decodeStored(f.subarray(0, f.length - 5))).toThrow(/truncated/);
    expect(() => decodeStored(Buffer.from('\u0000\u0000\u0000\u0002{}'))).toThrow();
  });

  it('a retained event from another node replaces only an older one (timestamp, then publication)', () => {
    const r = new RetainedEvents({ enabled: true, maxTopics: 10, maxBytes: 1 << 20 });
    expect(r.offer(stored(5, { type: 16, args: [] }, { timestamp: 100 }))).toBe(true);
    expect(r.offer(stored(4, { type: 16, args: [] }, { timestamp: 99 }))).toBe(false);
    expect(r.offer(stored(3, { type: 16, args: [] }, { timestamp: 100 }))).toBe(false);
    expect(r.offer(stored(5, { type: 16, args: [] }, { timestamp: 100 }))).toBe(false);
    expect(r.offer(stored(6, { type: 16, args: [] }, { timestamp: 100 }))).toBe(true);
    expect(r.newest('com.example.t')?.publication).toBe(6);
    expect([...r.all()].map((e) => e.publication)).toEqual([6]);
  });
});
