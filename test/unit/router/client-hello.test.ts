import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAcmeValidation, peekClientHello } from '../../../src/router/client-hello.js';

// ClientHellos captured from `openssl s_client -connect ... -servername n1.example.org [-alpn ...]` (OpenSSL 3).
const hello = (n: string) => Buffer.from(readFileSync(join(import.meta.dirname, `fixtures/client-hello-${n}.hex`), 'utf8').trim(), 'hex');

describe('ClientHello peek (TLS-ALPN-01 detection)', () => {
  it('reads SNI and ALPN from a real ClientHello offering only acme-tls/1', () => {
    const h = peekClientHello(hello('acme'));
    expect(h).toEqual({ kind: 'hello', serverName: 'n1.example.org', alpn: ['acme-tls/1'] });
    expect(isAcmeValidation(h)).toBe(true);
  });
  it('an ordinary client (no ALPN) and one offering acme-tls/1 next to http/1.1 are not validations', () => {
    const plain = peekClientHello(hello('plain'));
    expect(plain).toEqual({ kind: 'hello', serverName: 'n1.example.org', alpn: [] });
    expect(isAcmeValidation(plain)).toBe(false);
    const both = peekClientHello(hello('both'));
    expect(both).toEqual({ kind: 'hello', serverName: 'n1.example.org', alpn: ['acme-tls/1', 'http/1.1'] });
    expect(isAcmeValidation(both)).toBe(false);
  });
  it('asks for more bytes until the first record is complete, at every split point', () => {
    const b = hello('acme');
    for (let i = 0; i < b.length; i++) expect(peekClientHello(b.subarray(0, i)).kind).toBe('more');
    // bytes after the record (none in practice) don't matter
    expect(isAcmeValidation(peekClientHello(Buffer.concat([b, Buffer.from([1, 2, 3])])))).toBe(true);
  });
  it('anything else is "other": plain HTTP, a truncated body, garbage inside a complete record', () => {
    expect(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('other');
    const b = Buffer.from(hello('acme'));
    b.writeUInt16BE(60, 3); // record shorter than the handshake message it claims to hold
    expect(peekClientHello(b).kind).toBe('other');
    const g = Buffer.from(hello('acme'));
    g.fill(0xff, 9, 60);
    expect(isAcmeValidation(peekClientHello(g))).toBe(false);
    expect(peekClientHello(Buffer.from([0x16, 0x03, 0x01, 0, 4, 2, 0, 0, 0])).kind).toBe('other'); // server_hello
  });
});
