import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets, REDACTED } from '../../../src/log/logger.js';

describe('secret redaction in logs', () => {
  it('redacts secret-looking fields at any depth and keeps the rest', () => {
    const out = redactSecrets({
      node: 'n1',
      privateKey: 'AAAA',
      nested: { auth: { ticket: 't', password: 'p', wampcra: { secret: 's' } }, psk: 'k', publicKey: 'PUB' },
      list: [{ token: 'x', name: 'ok' }],
    });
    expect(out).toEqual({
      node: 'n1',
      privateKey: REDACTED,
      nested: { auth: { ticket: REDACTED, password: REDACTED, wampcra: { secret: REDACTED } }, psk: REDACTED, publicKey: 'PUB' },
      list: [{ token: REDACTED, name: 'ok' }],
    });
  });

  it('a real pino logger never writes the secret', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const log = createLogger({ pretty: false, destination: sink as unknown as NodeJS.WritableStream });
    log.info({ peer: { privateKey: 'SECRET-KEY-MATERIAL', endpoint: '192.0.2.11' }, token: 'SECRET-TOKEN' }, 'applied');
    const text = lines.join('');
    expect(text).not.toContain('SECRET');
    expect(text).toContain('192.0.2.11');
    expect(JSON.parse(text).peer.privateKey).toBe(REDACTED);
  });
});
