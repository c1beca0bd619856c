import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { cborItemEnd, emptyMapEnd } from '../../../src/router/wamp/cbor-walk.js';
import { parseMessage, payloadOf, toWire } from '../../../src/router/wamp/messages.js';
import { RawPayload } from '../../../src/router/wamp/raw-payload.js';
import { SERIALIZERS, cbor } from '../../../src/router/wamp/serializers.js';

// The CBOR fast lane: the well-formedness walker and the router's head-only decode with the payload
// forwarded as bytes. Every property compares against cbor-x decoding the whole message.
const cx = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, pack: false });
const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.double({ noNaN: true }), fc.string(), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }), tie('list'), tie('dict')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  dict: fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 4 }),
}));
const args = json.list as fc.Arbitrary<unknown[]>;
const kwargs = json.dict as fc.Arbitrary<Record<string, unknown>>;
const id = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 2 ** 53 }));
const uri = fc.constantFrom('com.example.echo', 'a.b', 'x'.repeat(300), 'ünïcode.ok');
const options = fc.oneof(fc.constant({}), fc.record({ receive_progress: fc.boolean(), timeout: fc.nat(1000) }), fc.record({ acknowledge: fc.boolean(), exclude: fc.array(id, { maxLength: 3 }) }));
/** CALL, PUBLISH, YIELD, ERROR (the client messages with a payload), with args and maybe kwargs. */
const message = fc
  .oneof(
    fc.tuple(fc.constant(48), id, options, uri),
    fc.tuple(fc.constant(16), id, options, uri),
    fc.tuple(fc.constant(70), id, options),
    fc.tuple(fc.constant(8), fc.constant(68), id, fc.constant({}), uri),
  )
  .chain((head) =>
    fc.oneof(
      fc.tuple(args).map((p) => [...head, ...p]),
      fc.tuple(args, kwargs).map((p) => [...head, ...p]),
    ),
  );

describe('CBOR walker', () => {
  it('finds the end of any encoded value, and of nothing shorter (property)', () => {
    fc.assert(
      fc.property(json.value, fc.uint8Array({ maxLength: 4 }), (v, trailer) => {
        const b = Buffer.from(cx.encode(v));
        expect(cborItemEnd(Buffer.concat([b, trailer]), 0)).toBe(b.length);
        for (let cut = 0; cut < b.length; cut++) expect(cborItemEnd(b.subarray(0, cut), 0)).toBe(-1);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random bytes and never claims more than it has (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const end = cborItemEnd(bytes, 0);
        expect(end === -1 || (end > 0 && end <= bytes.length)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses what a receiver must not get: bad UTF-8, reserved bits, lone breaks, bad indefinite items, depth', () => {
    expect(cborItemEnd(hex('62 c3 28'), 0)).toBe(-1); // text "\xc3(" is not UTF-8
    expect(cborItemEnd(hex('62 c3 a9'), 0)).toBe(3); // "é"
    expect(cborItemEnd(hex('1c'), 0)).toBe(-1); // additional information 28 is reserved
    expect(cborItemEnd(hex('ff'), 0)).toBe(-1); // a break outside an indefinite item
    expect(cborItemEnd(hex('5f 61 61 ff'), 0)).toBe(-1); // a text chunk inside an indefinite byte string
    expect(cborItemEnd(hex('5f 41 61 42 62 63 ff'), 0)).toBe(7);
    expect(cborItemEnd(hex('bf 61 61 ff'), 0)).toBe(-1); // indefinite map with a key and no value
    expect(cborItemEnd(hex('9f 01 02 ff'), 0)).toBe(4);
    expect(cborItemEnd(hex('f8 10'), 0)).toBe(-1); // a two-byte simple value below 32
    expect(cborItemEnd(hex('9b ffffffff ffffffff'), 0)).toBe(-1); // a huge array in a small buffer
    expect(cborItemEnd(Buffer.concat([Buffer.alloc(100, 0x81), hex('01')]), 0)).toBe(-1); // nested past MAX_DEPTH
    expect(cborItemEnd(Buffer.concat([Buffer.alloc(60, 0x81), hex('01')]), 0)).toBe(61);
  });

  it('sees an empty map in any head form', () => {
    expect(emptyMapEnd(hex('a0'), 0)).toBe(1);
    expect(emptyMapEnd(hex('b9 0000'), 0)).toBe(3); // how cbor-x writes {}
    expect(emptyMapEnd(hex('a1 6161 01'), 0)).toBe(-1);
    expect(emptyMapEnd(hex('80'), 0)).toBe(-1);
  });
});

describe('CBOR routed decode', () => {
  it('gives the same message as the general decoder, and forwards the payload unchanged (property)', () => {
    fc.assert(
      fc.property(message, (wire) => {
        const bytes = Buffer.from(cx.encode(wire));
        const decoded = cbor.decodeMessage(bytes) as unknown[];
        const raw = decoded[decoded.length - 1];
        expect(raw).toBeInstanceOf(RawPayload);
        const general = cbor.decode(bytes) as unknown[];
        const m = parseMessage(decoded);
        // the head as the general decoder reads it; the payload's values on demand
        expect(decoded.slice(0, -1)).toEqual(general.slice(0, decoded.length - 1));
        expect((raw as RawPayload).items()).toEqual(general.slice(decoded.length - 1));
        // forwarded: the payload's bytes appear verbatim after a freshly coded head
        const fwd = [68, 7, 9, { caller: 1 }, ...payloadOf(m)];
        const out = cbor.encode(fwd);
        expect(out.subarray(out.length - (raw as RawPayload).length).equals(bytes.subarray(bytes.length - (raw as RawPayload).length))).toBe(true);
        // and every serializer's peer reads the same values
        for (const s of Object.values(SERIALIZERS)) expect(s.decode(s.encode(fwd))).toEqual(s.decode(s.encode([68, 7, 9, { caller: 1 }, ...general.slice(decoded.length - 1)])));
        expect(cbor.decode(cbor.encode(toWire(m)))).toEqual(general);
        // written in place (the transports' path for a message's first delivery): the same bytes, at an
        // offset inside a larger buffer; a head with a non-empty dictionary is left to encode()
        for (const head of [
          [50, m.request ?? 1, {}],
          [36, 5, 2 ** 53, {}],
          [68, 7, 9, { caller: 1 }],
        ]) {
          const w = [...head, ...payloadOf(m)];
          const size = cbor.encodedSize!(w);
          if (head[0] === 68) expect(size).toBe(-1);
          else {
            const into = Buffer.alloc(size + 8, 0xee);
            cbor.encodeInto!(w, into, 5);
            expect(into.subarray(5, 5 + size).equals(cbor.encode(w))).toBe(true);
            expect([...into.subarray(0, 5), ...into.subarray(5 + size)]).toEqual(Array(8).fill(0xee));
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('writes IDs past 2^32 as 64-bit integers, never floats', () => {
    const m = parseMessage(cbor.decodeMessage(Buffer.from(cx.encode([70, 2 ** 40, {}, [1]]))));
    const out = cbor.encode([50, 2 ** 53, {}, ...payloadOf(m)]);
    expect(out.toString('hex')).toBe('84' + '1832' + '1b0020000000000000' + 'a0' + '8101');
    expect(cbor.decode(out)).toEqual([50, 2 ** 53, {}, [1]]);
  });

  it('reads each head text right when consecutive messages name the same or other URIs of one length', () => {
    const topicOf = (t: string) => (cbor.decodeMessage(Buffer.from(cx.encode([16, 1, {}, t, [1]]))) as unknown[])[3];
    // same byte length, different bytes (and a multi-byte character against two ASCII ones)
    const seq = ['com.a.one', 'com.b.one', 'com.a.one', 'com.a.onf', 'cöm.a.on', 'com.a.one', 'x'.repeat(300), 'x'.repeat(300)];
    expect(seq.map(topicOf)).toEqual(seq);
  });

  it('leaves everything else to the general decoder', () => {
    const general = (w: unknown[]) => expect(cbor.decodeMessage(Buffer.from(cx.encode(w)))).toEqual(w);
    general([48, 1, {}, 'a.b']); // no payload
    general([1, 'realm', { roles: {} }]); // no payload type
    general([48, 1, { enc_algo: 'cryptobox' }, 'a.b', Buffer.from('opaque')]); // payload passthru: bytes in the args slot
    general([48, 1, {}, 'a.b', 'not a list']);
    general([48, 1, {}, 'a.b', [1], 'not a dict']);
    // bad UTF-8 in the payload is never forwarded as bytes (the general decoder's verdict applies)
    const bad = Buffer.concat([hex('85 1830 01 a0 63 612e62 81 62'), hex('c328')]);
    expect(cbor.decodeMessage(bad)).not.toContainEqual(expect.any(RawPayload));
    // non-text keys in kwargs: not a WAMP dictionary, not forwarded as bytes
    expect((cbor.decodeMessage(hex('86 1830 01 a0 63 612e62 80 a1 01 02')) as unknown[]).some((x) => x instanceof RawPayload)).toBe(false);
  });
});
