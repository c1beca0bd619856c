import { MT, MT_NAME } from './codes.js';
import { RawPayload } from './raw-payload.js';

/**
 * The WAMP message model: a validated, named view of the wire array. `parseMessage` checks shape and
 * the types of every known option/detail (unknown keys pass, for forward compatibility) and throws
 * ProtocolViolation with the offending field in the message; `toWire` turns a Msg back into the array.
 */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

export type Dict = Record<string, unknown>;

export interface Msg {
  type: number;
  realm?: string;
  session?: number;
  details?: Dict;
  options?: Dict;
  reason?: string;
  method?: string;
  extra?: Dict;
  signature?: string;
  requestType?: number;
  request?: number;
  error?: string;
  topic?: string;
  procedure?: string;
  subscription?: number;
  publication?: number;
  registration?: number;
  args?: unknown[];
  kwargs?: Dict;
  /** Payload passthru mode (enc_algo/ppt_scheme set): opaque bytes (or a string) in the args slot. */
  payload?: Uint8Array | string;
  /** args (and kwargs) still encoded as they arrived (see RawPayload); then args/kwargs are unset. */
  raw?: RawPayload;
}

export const MAX_ID = 2 ** 53;

type FieldKind = 'id' | 'dict' | 'uri' | 'string' | 'typecode';
interface Layout {
  fields: [keyof Msg, FieldKind][];
  payload: boolean;
  /** Name of the dict whose keys are checked against OPTION_RULES. */
  dictName?: 'details' | 'options' | 'extra';
}

const L = (fields: [keyof Msg, FieldKind][], payload = false): Layout => ({ fields, payload });
export const LAYOUTS: Record<number, Layout> = {
  [MT.HELLO]: L([
    ['realm', 'uri'],
    ['details', 'dict'],
  ]),
  [MT.WELCOME]: L([
    ['session', 'id'],
    ['details', 'dict'],
  ]),
  [MT.ABORT]: L([
    ['details', 'dict'],
    ['reason', 'uri'],
  ]),
  [MT.CHALLENGE]: L([
    ['method', 'string'],
    ['extra', 'dict'],
  ]),
  [MT.AUTHENTICATE]: L([
    ['signature', 'string'],
    ['extra', 'dict'],
  ]),
  [MT.GOODBYE]: L([
    ['details', 'dict'],
    ['reason', 'uri'],
  ]),
  [MT.ERROR]: L(
    [
      ['requestType', 'typecode'],
      ['request', 'id'],
      ['details', 'dict'],
      ['error', 'uri'],
    ],
    true,
  ),
  [MT.PUBLISH]: L(
    [
      ['request', 'id'],
      ['options', 'dict'],
      ['topic', 'uri'],
    ],
    true,
  ),
  [MT.PUBLISHED]: L([
    ['request', 'id'],
    ['publication', 'id'],
  ]),
  [MT.SUBSCRIBE]: L([
    ['request', 'id'],
    ['options', 'dict'],
    ['topic', 'uri'],
  ]),
  [MT.SUBSCRIBED]: L([
    ['request', 'id'],
    ['subscription', 'id'],
  ]),
  [MT.UNSUBSCRIBE]: L([
    ['request', 'id'],
    ['subscription', 'id'],
  ]),
  [MT.UNSUBSCRIBED]: L([['request', 'id']]),
  [MT.EVENT]: L(
    [
      ['subscription', 'id'],
      ['publication', 'id'],
      ['details', 'dict'],
    ],
    true,
  ),
  [MT.CALL]: L(
    [
      ['request', 'id'],
      ['options', 'dict'],
      ['procedure', 'uri'],
    ],
    true,
  ),
  [MT.CANCEL]: L([
    ['request', 'id'],
    ['options', 'dict'],
  ]),
  [MT.RESULT]: L(
    [
      ['request', 'id'],
      ['details', 'dict'],
    ],
    true,
  ),
  [MT.REGISTER]: L([
    ['request', 'id'],
    ['options', 'dict'],
    ['procedure', 'uri'],
  ]),
  [MT.REGISTERED]: L([
    ['request', 'id'],
    ['registration', 'id'],
  ]),
  [MT.UNREGISTER]: L([
    ['request', 'id'],
    ['registration', 'id'],
  ]),
  [MT.UNREGISTERED]: L([['request', 'id']]),
  [MT.INVOCATION]: L(
    [
      ['request', 'id'],
      ['registration', 'id'],
      ['details', 'dict'],
    ],
    true,
  ),
  [MT.INTERRUPT]: L([
    ['request', 'id'],
    ['options', 'dict'],
  ]),
  [MT.YIELD]: L(
    [
      ['request', 'id'],
      ['options', 'dict'],
    ],
    true,
  ),
  [MT.EVENT_RECEIVED]: L([['publication', 'id']]),
};

// ---- type checks for known options/details ----
type Check = (v: unknown) => boolean;
/** A WAMP ID: an integer in [0, 2^53]. */
export const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ID;
const bool: Check = (v) => typeof v === 'boolean';
const str: Check = (v) => typeof v === 'string';
const int: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const dict: Check = (v) => isDict(v);
const idList: Check = (v) => Array.isArray(v) && v.every(isId);
const strList: Check = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const oneOf =
  (...vals: string[]): Check =>
  (v) =>
    typeof v === 'string' && vals.includes(v);
const ENC_ALGOS = ['cryptobox', 'mqtt', 'xbr'];
const encAlgo: Check = (v) => typeof v === 'string' && (ENC_ALGOS.includes(v) || v.startsWith('x_'));
const forwardFor: Check = (v) => Array.isArray(v) && v.every((h) => isDict(h) && isId(h.session) && typeof h.authid === 'string' && typeof h.authrole === 'string');
const matchPolicy = oneOf('exact', 'prefix', 'wildcard');

const PASSTHRU: Record<string, Check> = { enc_algo: encAlgo, enc_serializer: str, enc_key: str, ppt_scheme: str, ppt_serializer: str, ppt_cipher: str, ppt_keyid: str };
const PASSTHRU_KEYS = Object.keys(PASSTHRU);

/** False for a missing or empty dictionary (the common options: nothing to read from them). */
export function hasKeys(d: Dict | undefined): d is Dict {
  if (d === undefined) return false;
  for (const _ in d) return true;
  return false;
}

/** Copies the payload passthru keys (enc_*, ppt_*) a message's options carry into the forwarded details. */
export function copyPassthru(options: Dict | undefined, details: Dict): void {
  if (!hasKeys(options)) return;
  for (const k of PASSTHRU_KEYS) if (options[k] !== undefined) details[k] = options[k];
}

/** Known keys per message type (in the options/details/extra dict) and the check for each. */
export const OPTION_RULES: Record<number, Record<string, Check>> = {
  [MT.HELLO]: { roles: dict, authmethods: strList, authid: str, authrole: str, authextra: dict, agent: str, resumable: bool },
  [MT.WELCOME]: { roles: dict, authid: str, authrole: str, authmethod: str, authprovider: str, authextra: dict, agent: str, realm: str },
  [MT.PUBLISH]: {
    acknowledge: bool,
    exclude_me: bool,
    exclude: idList,
    exclude_authid: strList,
    exclude_authrole: strList,
    eligible: idList,
    eligible_authid: strList,
    eligible_authrole: strList,
    retain: bool,
    transaction_hash: str,
    forward_for: forwardFor,
    disclose_me: bool,
    ...PASSTHRU,
  },
  [MT.EVENT]: {
    publisher: isId,
    publisher_authid: str,
    publisher_authrole: str,
    topic: str,
    retained: bool,
    transaction_hash: str,
    x_acknowledged_delivery: bool,
    forward_for: forwardFor,
    ...PASSTHRU,
  },
  [MT.SUBSCRIBE]: { match: matchPolicy, get_retained: bool, forward_for: forwardFor },
  [MT.REGISTER]: { match: matchPolicy, invoke: oneOf('single', 'roundrobin', 'random', 'first', 'last'), disclose_caller: bool, forward_for: forwardFor },
  [MT.CALL]: { timeout: int, receive_progress: bool, disclose_me: bool, progress: bool, forward_for: forwardFor, ...PASSTHRU },
  [MT.CANCEL]: { mode: oneOf('skip', 'kill', 'killnowait'), forward_for: forwardFor },
  [MT.INTERRUPT]: { mode: oneOf('skip', 'kill', 'killnowait'), reason: str, forward_for: forwardFor },
  [MT.INVOCATION]: { caller: isId, caller_authid: str, caller_authrole: str, procedure: str, receive_progress: bool, timeout: int, forward_for: forwardFor, ...PASSTHRU },
  [MT.YIELD]: { progress: bool, forward_for: forwardFor, ...PASSTHRU },
  [MT.RESULT]: { progress: bool, forward_for: forwardFor, ...PASSTHRU },
  [MT.ERROR]: { forward_for: forwardFor, ...PASSTHRU },
};

export function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

const isPassthru = (d: Dict | undefined): boolean => d !== undefined && (d.enc_algo !== undefined || d.ppt_scheme !== undefined);

function fail(type: number, what: string): never {
  throw new ProtocolViolation(`${MT_NAME[type] ?? type}: ${what}`);
}

/** Validates a decoded wire value and returns the named message. Throws ProtocolViolation. */
export function parseMessage(raw: unknown): Msg {
  if (!Array.isArray(raw) || raw.length === 0) throw new ProtocolViolation('message must be a non-empty array');
  const type = raw[0];
  if (typeof type !== 'number' || !Number.isInteger(type)) throw new ProtocolViolation('message type must be an integer');
  if (type === MT.CALL || type === MT.PUBLISH) return parseHot(raw, type, 3);
  if (type === MT.YIELD) return parseHot(raw, type, 2);
  const layout = LAYOUTS[type];
  if (!layout) throw new ProtocolViolation(`unknown message type ${type}`);
  const n = layout.fields.length;
  const max = n + 1 + (layout.payload ? 2 : 0);
  if (raw.length < n + 1 || raw.length > max) fail(type, `wrong number of elements (${raw.length})`);
  const msg: Msg = { type };
  const m = msg as unknown as Record<string, unknown>;
  let dictField: Dict | undefined;
  for (let i = 0; i < n; i++) {
    const [name, kind] = layout.fields[i]!;
    const v = raw[i + 1];
    switch (kind) {
      case 'id':
        if (!isId(v)) fail(type, `${name} must be an integer in [0, 2^53]`);
        break;
      case 'typecode':
        if (typeof v !== 'number' || !Number.isInteger(v) || LAYOUTS[v] === undefined) fail(type, `${name} must be a message type`);
        break;
      case 'dict':
        if (!isDict(v)) fail(type, `${name} must be a dictionary`);
        dictField = v;
        break;
      case 'uri':
      case 'string':
        if (typeof v !== 'string') fail(type, `${name} must be a string`);
        break;
    }
    m[name] = v;
  }
  if (dictField) checkOptions(type, dictField);
  if (layout.payload) takePayload(msg, raw, n, dictField);
  return msg;
}

/**
 * CALL and PUBLISH ([type, request, options, URI, args?, kwargs?]) and YIELD ([type, request, options,
 * args?, kwargs?]), the messages of every call and event: the layout walk's checks with the field names
 * written out, so each message type builds one object shape.
 */
function parseHot(raw: unknown[], type: number, n: 2 | 3): Msg {
  if (raw.length < n + 1 || raw.length > n + 3) fail(type, `wrong number of elements (${raw.length})`);
  const request = raw[1];
  const options = raw[2];
  if (!isId(request)) fail(type, 'request must be an integer in [0, 2^53]');
  if (!isDict(options)) fail(type, 'options must be a dictionary');
  const msg: Msg = { type, request, options };
  if (n === 3) {
    const uri = raw[3];
    if (type === MT.CALL) {
      if (typeof uri !== 'string') fail(type, 'procedure must be a string');
      msg.procedure = uri;
    } else {
      if (typeof uri !== 'string') fail(type, 'topic must be a string');
      msg.topic = uri;
    }
  }
  checkOptions(type, options);
  takePayload(msg, raw, n, options);
  return msg;
}

/** The known keys of a message's options/details must have the right types (unknown keys pass). */
function checkOptions(type: number, dict: Dict): void {
  const rules = OPTION_RULES[type];
  if (!rules) return;
  for (const key in dict) {
    if (!Object.prototype.hasOwnProperty.call(dict, key)) continue;
    const check = rules[key];
    const v = dict[key];
    // null/undefined stand for "not set" (MessagePack/CBOR clients send nil or undefined for unset options)
    if (check && v !== null && v !== undefined && !check(v)) fail(type, `option ${key} has a wrong type or value`);
  }
}

/** Sets msg.raw, msg.payload or msg.args/kwargs from the elements after the n head fields. */
function takePayload(msg: Msg, raw: unknown[], n: number, dict: Dict | undefined): void {
  const type = msg.type;
  if (raw.length <= n + 1) return;
  const a = raw[n + 1];
  if (a instanceof RawPayload) {
    // checked by the decoder: an array, then maybe a dictionary
    if (raw.length > n + 2) fail(type, 'a raw payload ends the message');
    msg.raw = a;
  } else if (isPassthru(dict) && (a instanceof Uint8Array || typeof a === 'string')) {
    if (raw.length > n + 2) fail(type, 'payload passthru takes no kwargs');
    msg.payload = a;
  } else {
    if (!Array.isArray(a)) fail(type, 'args must be a list');
    msg.args = a;
    if (raw.length > n + 2) {
      const k = raw[n + 2];
      if (!isDict(k)) fail(type, 'kwargs must be a dictionary');
      msg.kwargs = k;
    }
  }
}

/** The wire array of a message (inverse of parseMessage). */
export function toWire(msg: Msg): unknown[] {
  const layout = LAYOUTS[msg.type];
  if (!layout) throw new Error(`unknown message type ${msg.type}`);
  const m = msg as unknown as Record<string, unknown>;
  const out: unknown[] = [msg.type];
  for (const [name] of layout.fields) out.push(m[name]);
  if (layout.payload) {
    if (msg.raw !== undefined) out.push(msg.raw);
    else if (msg.payload !== undefined) out.push(msg.payload);
    else if (msg.kwargs !== undefined && Object.keys(msg.kwargs).length > 0) out.push(msg.args ?? [], msg.kwargs);
    else if (msg.args !== undefined && msg.args.length > 0) out.push(msg.args);
  }
  return out;
}

/** Appends a message's payload to a forwarded message's head: [raw], [payload], [args, kwargs], [args] or nothing. */
export function withPayload(head: unknown[], m: Msg): unknown[] {
  if (m.raw !== undefined) return append(head, m.raw);
  if (m.payload !== undefined) return append(head, m.payload);
  if (m.kwargs !== undefined) return append(append(head, m.args ?? []), m.kwargs);
  if (m.args !== undefined) return append(head, m.args);
  return head;
}

/** head + [x] in an array of exactly that size (a push would grow the backing store to about 20 slots). */
function append(head: unknown[], x: unknown): unknown[] {
  const n = head.length;
  const out = new Array<unknown>(n + 1);
  for (let i = 0; i < n; i++) out[i] = head[i];
  out[n] = x;
  return out;
}

/** The payload elements of a message (see withPayload). */
export const payloadOf = (m: Msg): unknown[] => withPayload([], m);

/** A message's args and kwargs as values (decoding a raw payload), for the router's own procedures. */
export function argsOf(m: Msg): { args: unknown[]; kwargs: Dict } {
  if (m.raw !== undefined) {
    const [args, kwargs] = m.raw.items() as [unknown[], Dict | undefined];
    return { args, kwargs: kwargs ?? {} };
  }
  return { args: m.args ?? [], kwargs: m.kwargs ?? {} };
}
