import { MT } from '../wamp/codes.js';
import type { Dict, Msg } from '../wamp/messages.js';
import type { Session } from './session.js';

/**
 * A publication kept past its delivery (retained event, event history): its payload in bytes or values
 * of its own, the details its subscribers got, and who could receive it (without holding any session).
 */
export interface StoredEvent {
  readonly topic: string;
  readonly publication: number;
  /** Milliseconds since the epoch, when the router took the publication. */
  readonly timestamp: number;
  /** EVENT details as delivered to an exact subscriber (publisher disclosure, passthru keys). */
  readonly details: Dict;
  /** A PUBLISH-shaped holder of the payload (raw bytes copied, or values): what withPayload reads. */
  readonly payload: Msg;
  /** Approximate payload size in bytes (what the retention and history bounds count). */
  readonly bytes: number;
  readonly audience: Audience;
}

/** A publication's exclusion and black/white lists, as IDs and names. */
export interface Audience {
  publisher: number;
  excludeMe: boolean;
  exclude?: number[];
  excludeAuthid?: string[];
  excludeAuthrole?: string[];
  eligible?: number[];
  eligibleAuthid?: string[];
  eligibleAuthrole?: string[];
}

export function audienceOf(publisher: Session, o: Dict): Audience {
  const a: Audience = { publisher: publisher.id, excludeMe: o.exclude_me !== false };
  if (Array.isArray(o.exclude)) a.exclude = o.exclude as number[];
  if (Array.isArray(o.exclude_authid)) a.excludeAuthid = o.exclude_authid as string[];
  if (Array.isArray(o.exclude_authrole)) a.excludeAuthrole = o.exclude_authrole as string[];
  if (Array.isArray(o.eligible)) a.eligible = o.eligible as number[];
  if (Array.isArray(o.eligible_authid)) a.eligibleAuthid = o.eligible_authid as string[];
  if (Array.isArray(o.eligible_authrole)) a.eligibleAuthrole = o.eligible_authrole as string[];
  return a;
}

/** True when the publication names sessions (exclude/eligible): IDs that mean nothing to later sessions. */
export function namesSessions(a: Audience): boolean {
  return a.exclude !== undefined || a.eligible !== undefined;
}

/** True when the publication has black/white lists (not everyone but its publisher would receive it). */
export function restricted(a: Audience): boolean {
  return namesSessions(a) || a.excludeAuthid !== undefined || a.excludeAuthrole !== undefined || a.eligibleAuthid !== undefined || a.eligibleAuthrole !== undefined;
}

/**
 * Whether session `t` would have received the publication had it been subscribed then. `history`: the
 * reader asks after the fact, so the publisher's own exclusion does not apply (session lists are never
 * stored in history).
 */
export function admits(a: Audience, t: Session, history = false): boolean {
  const p = t.principal!;
  if (!history && a.excludeMe && t.id === a.publisher) return false;
  if (a.exclude?.includes(t.id) || a.excludeAuthid?.includes(p.authid) || a.excludeAuthrole?.includes(p.authrole)) return false;
  if (a.eligible && !a.eligible.includes(t.id)) return false;
  if (a.eligibleAuthid && !a.eligibleAuthid.includes(p.authid)) return false;
  if (a.eligibleAuthrole && !a.eligibleAuthrole.includes(p.authrole)) return false;
  return true;
}

/** The payload of `m` in storage of its own (raw bytes copied out of the read buffer) and its size. */
export function snapshot(m: Msg): { payload: Msg; bytes: number } {
  if (m.raw !== undefined) return { payload: { type: MT.PUBLISH, raw: m.raw.detached() }, bytes: m.raw.length };
  if (m.payload !== undefined) {
    const p = typeof m.payload === 'string' ? m.payload : Buffer.from(m.payload);
    return { payload: { type: MT.PUBLISH, payload: p }, bytes: p.length };
  }
  const payload: Msg = { type: MT.PUBLISH };
  if (m.args !== undefined) payload.args = m.args;
  if (m.kwargs !== undefined) payload.kwargs = m.kwargs;
  return { payload, bytes: approxBytes(m.args) + approxBytes(m.kwargs) };
}

/** Size of a decoded value in about the bytes a binary serializer takes for it. */
export function approxBytes(v: unknown, depth = 0): number {
  if (v === undefined || v === null || typeof v === 'boolean') return 1;
  if (typeof v === 'number' || typeof v === 'bigint') return 9;
  if (typeof v === 'string') return v.length + 5;
  if (v instanceof Uint8Array) return v.byteLength + 5;
  if (depth > 100) return 9;
  let n = 5;
  if (Array.isArray(v)) for (const x of v) n += approxBytes(x, depth + 1);
  else if (typeof v === 'object') for (const [k, x] of Object.entries(v)) n += k.length + 5 + approxBytes(x, depth + 1);
  return n;
}

/** A stored event as the history procedures return it (crossbar's shape: timestamp, publication, topic, args, kwargs). */
export function eventRecord(e: StoredEvent): Dict {
  const r: Dict = { timestamp: new Date(e.timestamp).toISOString(), publication: e.publication, topic: e.topic };
  for (const k of ['publisher', 'publisher_authid', 'publisher_authrole']) if (e.details[k] !== undefined) r[k] = e.details[k];
  const p = e.payload;
  if (p.raw !== undefined) {
    const [args, kwargs] = p.raw.items() as [unknown[], Dict | undefined];
    r.args = args;
    r.kwargs = kwargs ?? {};
  } else if (p.payload !== undefined) {
    r.payload = p.payload;
    for (const k of Object.keys(e.details)) if (k.startsWith('enc_') || k.startsWith('ppt_')) r[k] = e.details[k];
  } else {
    r.args = p.args ?? [];
    r.kwargs = p.kwargs ?? {};
  }
  return r;
}
