import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';

/** Deterministic JSON (keys sorted at every depth) so signer and verifier hash the same bytes. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** A message between agents. `sig` is an Ed25519 signature by `from`'s node key over everything else. */
export interface SignedMessage<B = unknown> {
  type: string;
  from: string;
  to: string;
  /** Unix milliseconds when sent. */
  ts: number;
  nonce: string;
  body: B;
  sig: string;
}

export function generateSigningKey(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}

export function signingPublicKey(secret: Uint8Array): string {
  return Buffer.from(ed25519.getPublicKey(secret)).toString('base64');
}

export function signMessage<B>(secret: Uint8Array, msg: Omit<SignedMessage<B>, 'sig' | 'ts' | 'nonce'> & { ts?: number; nonce?: string }): SignedMessage<B> {
  const unsigned = { ...msg, ts: msg.ts ?? Date.now(), nonce: msg.nonce ?? randomBytes(12).toString('base64') };
  const sig = Buffer.from(ed25519.sign(Buffer.from(canonicalJson(unsigned)), secret)).toString('base64');
  return { ...unsigned, sig };
}

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/**
 * Checks a message: addressed to `self`, from a node whose key we know, fresh (±maxSkewMs), not replayed,
 * signature valid. Throws SignatureError with the reason.
 */
export class MessageVerifier {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly self: string,
    private readonly keyOf: (node: string) => string | undefined,
    private readonly maxSkewMs = 120_000,
  ) {}

  verify<B>(msg: SignedMessage<B>, now = Date.now()): SignedMessage<B> {
    if (msg.to !== this.self) throw new SignatureError(`message for ${msg.to}, this is ${this.self}`);
    const pub = this.keyOf(msg.from);
    if (!pub) throw new SignatureError(`unknown sender ${msg.from}`);
    if (Math.abs(now - msg.ts) > this.maxSkewMs) throw new SignatureError(`stale message from ${msg.from}`);
    const { sig, ...unsigned } = msg;
    let ok = false;
    try {
      ok = ed25519.verify(Buffer.from(sig, 'base64'), Buffer.from(canonicalJson(unsigned)), Buffer.from(pub, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) throw new SignatureError(`bad signature on ${msg.type} from ${msg.from}`);
    const id = `${msg.from}/${msg.nonce}`;
    if (this.seen.has(id)) throw new SignatureError(`replayed ${msg.type} from ${msg.from}`);
    for (const [k, t] of this.seen) if (now - t > 2 * this.maxSkewMs) this.seen.delete(k);
    this.seen.set(id, now);
    return msg;
  }
}
