import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMessage, toWire, type Msg } from '../../../src/router/wamp/messages.js';
import { SERIALIZERS, type SerializerId } from '../../../src/router/wamp/serializers.js';

// The WAMP test vectors are copied into the repository (test/fixtures/wamp-testsuite), see its SOURCE.md.
const ROOT = resolve(process.env.WAMP_TESTSUITE ?? join(import.meta.dirname, '../../fixtures/wamp-testsuite'));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.json') ? [p] : [];
  });
}

interface Variant {
  bytes?: string;
  bytes_hex: string;
}
interface Sample {
  description: string;
  serializers?: Record<string, Variant[]>;
  expected_attributes?: Record<string, unknown>;
  wmsg?: unknown[];
  expected_error?: { type: string; contains: string };
}

/** Our message in the vectors' attribute names. */
function attributes(m: Msg): Record<string, unknown> {
  const a: Record<string, unknown> = { message_type: m.type };
  if (m.request !== undefined) a.request_id = m.request;
  if (m.requestType !== undefined) a.request_type = m.requestType;
  for (const k of ['realm', 'details', 'options', 'reason', 'method', 'extra', 'signature', 'error', 'topic', 'procedure'] as const) {
    if (m[k] !== undefined) a[k] = m[k];
  }
  if (m.session !== undefined) a.session_id = m.session;
  if (m.subscription !== undefined) a.subscription = a.subscription_id = m.subscription;
  if (m.publication !== undefined) a.publication = a.publication_id = m.publication;
  if (m.registration !== undefined) a.registration_id = m.registration;
  if ((m.type === 1 || m.type === 2) && m.details) a.roles = m.details.roles;
  a.args = m.args ?? null;
  a.kwargs = m.kwargs ?? null;
  a.payload = m.payload === undefined ? null : typeof m.payload === 'string' ? m.payload : Buffer.from(m.payload).toString('hex');
  return a;
}

/** A message with a raw payload as the general decoder gives it (args/kwargs as values). */
function materialize(m: Msg): Msg {
  if (m.raw === undefined) return m;
  const [args, kwargs] = m.raw.items() as [unknown[], Record<string, unknown> | undefined];
  const { raw: _, ...rest } = m;
  return kwargs === undefined ? { ...rest, args } : { ...rest, args, kwargs };
}

/** Normalizes for comparison: Buffers → hex, empty args ≡ absent. */
function norm(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, function (k, x) {
      const o = (this as Record<string, unknown>)[k];
      return o instanceof Uint8Array ? Buffer.from(o).toString('hex') : x;
    }),
  );
}

const all = files(join(ROOT, 'singlemessage'));

describe('WAMP test vectors', () => {
  it('finds the vectors', () => expect(all.length).toBeGreaterThanOrEqual(20));

  for (const file of all) {
    const vec = JSON.parse(readFileSync(file, 'utf8')) as { samples: Sample[] };
    const name = file.slice(ROOT.length + 1);
    describe(name, () => {
      vec.samples.forEach((s, i) => {
        if (s.wmsg) {
          it(`#${i} ${s.description}`, () => {
            if (s.expected_error) expect(() => parseMessage(s.wmsg)).toThrow(s.expected_error.contains);
            else expect(() => parseMessage(s.wmsg)).not.toThrow();
          });
          return;
        }
        for (const ser of Object.keys(SERIALIZERS) as SerializerId[]) {
          const variants = s.serializers?.[ser] ?? [];
          if (variants.length === 0) continue;
          it(`#${i} ${ser}: ${s.description}`, () => {
            const serializer = SERIALIZERS[ser];
            const expected = s.expected_attributes!;
            // the general decoder, and the router's own (which may keep args/kwargs as checked bytes)
            for (const v of variants.flatMap((x) => [
              { ...x, routed: false },
              { ...x, routed: true },
            ])) {
              const bytes = Buffer.from(v.bytes_hex, 'hex');
              const msg = materialize(parseMessage(v.routed ? serializer.decodeMessage(bytes) : serializer.decode(bytes)));
              const attrs = attributes(msg);
              for (const [k, want] of Object.entries(expected)) {
                if (k === 'args' && Array.isArray(want) && want.length === 0 && attrs.args === null) continue;
                expect(norm(attrs[k]), `${k}`).toEqual(norm(want));
              }
              // our encoding round-trips to the same values
              const again = parseMessage(serializer.decode(serializer.encode(toWire(msg))));
              expect(norm(attributes(again))).toEqual(norm(attrs));
              if (v.routed) {
                // the payload forwarded as it came: the same values again, in every serializer
                const routed = parseMessage(serializer.decodeMessage(bytes));
                for (const out of Object.values(SERIALIZERS)) {
                  const fwd = parseMessage(out.decode(out.encode(toWire(routed))));
                  expect(norm(attributes(fwd)), `${ser} -> ${out.id}`).toEqual(norm(attrs));
                }
              }
            }
          });
        }
      });
    });
  }
});
