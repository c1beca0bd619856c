import { z } from 'zod';
import type { StoredEvent } from '../core/stored-event.js';
import { MT } from '../wamp/codes.js';
import { parseMessage, withPayload, type Dict } from '../wamp/messages.js';
import { cbor } from '../wamp/serializers.js';
import { snapshot } from '../core/stored-event.js';
import { decodeFrame, encodeFrameParts } from './frame.js';

/**
 * Publications a node keeps for retention or history, as they travel to the other nodes: a frame whose
 * header says, per publication, its ID, timestamp, details, audience, whether it is retained and/or
 * history, and its body's length; the body holds each one as a CBOR PUBLISH [16, 0, options, topic,
 * payload] (the options carry the payload passthru keys, so the payload reads back as it was kept: CBOR
 * bytes as they are, a transparent payload, or values).
 */
export interface StoredItem {
  e: StoredEvent;
  retained: boolean;
  history: boolean;
}

const PASSTHRU_PREFIXES = ['enc_', 'ppt_'];

const idList = z.array(z.number()).optional();
const nameList = z.array(z.string()).optional();
const itemSchema = z.object({
  p: z.number().int().min(1),
  ts: z.number().int().min(0),
  d: z.record(z.string(), z.unknown()),
  a: z.object({
    publisher: z.number(),
    excludeMe: z.boolean(),
    exclude: idList,
    excludeAuthid: nameList,
    excludeAuthrole: nameList,
    eligible: idList,
    eligibleAuthid: nameList,
    eligibleAuthrole: nameList,
  }),
  ret: z.boolean(),
  his: z.boolean(),
  l: z.number().int().min(1),
});
const headerSchema = z.object({ k: z.literal('sto'), r: z.string(), n: z.string(), ev: z.array(itemSchema) });

/** The frames that carry `items` of `realm` from `node`, each about `maxBytes` at most (one item may exceed it alone). */
export function encodeStored(realm: string, node: string, items: readonly StoredItem[], maxBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  let head: object[] = [];
  let bodies: Buffer[] = [];
  let bytes = 0;
  const flush = () => {
    if (head.length === 0) return;
    frames.push(encodeFrameParts({ k: 'sto', r: realm, n: node, ev: head }, bodies));
    head = [];
    bodies = [];
    bytes = 0;
  };
  for (const { e, retained, history } of items) {
    const options: Dict = {};
    for (const k of Object.keys(e.details)) if (PASSTHRU_PREFIXES.some((p) => k.startsWith(p))) options[k] = e.details[k];
    const body = cbor.encode(withPayload([MT.PUBLISH, 0, options, e.topic], e.payload));
    const h = { p: e.publication, ts: e.timestamp, d: e.details, a: e.audience, ret: retained, his: history, l: body.length };
    const size = body.length + JSON.stringify(h).length;
    if (bytes > 0 && bytes + size > maxBytes) flush();
    head.push(h);
    bodies.push(body);
    bytes += size;
  }
  flush();
  return frames;
}

/** The publications of a frame encodeStored made, with their realm and node; throws on a malformed one. */
export function decodeStored(data: Uint8Array): { realm: string; node: string; items: StoredItem[] } {
  const f = decodeFrame(data);
  const h = headerSchema.parse(f.header);
  const items: StoredItem[] = [];
  let at = 0;
  for (const x of h.ev) {
    if (at + x.l > f.body.length) throw new Error('stored event truncated');
    const m = parseMessage(cbor.decodeMessage(f.body.subarray(at, at + x.l)));
    at += x.l;
    if (m.type !== MT.PUBLISH || typeof m.topic !== 'string') throw new Error('a stored event is not a PUBLISH');
    // the payload in storage of its own (raw bytes copied out of the frame)
    const { payload, bytes } = snapshot(m);
    items.push({ e: { topic: m.topic, publication: x.p, timestamp: x.ts, details: x.d, payload, bytes, audience: x.a }, retained: x.ret, history: x.his });
  }
  return { realm: h.r, node: h.n, items };
}
