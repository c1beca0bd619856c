import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { NodeError } from '../core/errors.js';

/**
 * Host keys pinned on first use, in `bulwark.known_hosts` beside the config. One line per host:
 *   HOST:PORT KEYTYPE BASE64-KEY
 * A different key for a pinned host is refused (HostKeyChangedError) and nothing is touched on that node.
 */
export class HostKeyChangedError extends NodeError {
  override name = 'HostKeyChangedError';
  constructor(
    readonly host: string,
    readonly pinned: string,
    readonly offered: string,
    readonly file: string,
  ) {
    super(
      `HOST KEY CHANGED for ${host}: pinned ${pinned}, offered ${offered}. Refusing to connect; nothing was done on this node. ` +
        `If the server was reinstalled on purpose, remove its line from ${file} and run again.`,
    );
  }
}

/** Key type from an SSH public key blob (first length-prefixed string). Pure. */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH-style fingerprint: SHA256:base64(no padding). Pure. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function parseKnownHosts(text: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [host, , b64] = t.split(/\s+/);
    if (host && b64) m.set(host, Buffer.from(b64, 'base64'));
  }
  return m;
}

export type PinResult = { status: 'known' } | { status: 'pinned'; fingerprint: string } | { status: 'changed'; error: HostKeyChangedError };

/** Checks `blob` for `hostPort` against the file, pinning it on first use. */
export function checkHostKey(file: string, hostPort: string, blob: Buffer): PinResult {
  const pins = existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : new Map<string, Buffer>();
  const pinned = pins.get(hostPort);
  if (pinned) {
    if (pinned.length === blob.length && pinned.equals(blob)) return { status: 'known' };
    return { status: 'changed', error: new HostKeyChangedError(hostPort, fingerprint(pinned), fingerprint(blob), file) };
  }
  appendFileSync(file, `${hostPort} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o644 });
  return { status: 'pinned', fingerprint: fingerprint(blob) };
}
