import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authorityKeyIdentifier } from '../../../src/certs/der.js';

// Certificates made by openssl here; openssl's own reading of the Authority Key Identifier is the reference.
const dir = mkdtempSync(join(tmpdir(), 'bw-der-'));
const f = (n: string) => join(dir, n);
const ossl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function caAndLeaf(extraLeafExt: string): { ca: string; leaf: string } {
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', '/CN=der test CA', '-days', '2']);
  ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=n1.example.org']);
  writeFileSync(f('ext.cnf'), `subjectAltName=DNS:n1.example.org\n${extraLeafExt}`);
  ossl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', '0x87654321', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('leaf.pem')]);
  return { ca: readFileSync(f('ca.pem'), 'utf8'), leaf: readFileSync(f('leaf.pem'), 'utf8') };
}

/** openssl's printout of the AKI keyid as hex, or '' when the certificate has none. */
function opensslAki(pem: string): string {
  writeFileSync(f('x.pem'), pem);
  const text = ossl(['x509', '-in', f('x.pem'), '-noout', '-text']);
  const m = /X509v3 Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text);
  return m ? m[1]!.replace(/:/g, '').toLowerCase() : '';
}

describe('authorityKeyIdentifier (DER)', () => {
  it("reads the same keyIdentifier openssl reads, and it is the CA's subject key identifier", () => {
    const { ca, leaf } = caAndLeaf('authorityKeyIdentifier=keyid\n');
    const want = opensslAki(leaf);
    expect(want).toMatch(/^[0-9a-f]{40}$/);
    expect(authorityKeyIdentifier(new X509Certificate(leaf).raw)?.toString('hex')).toBe(want);
    const caText = ossl(['x509', '-in', f('ca.pem'), '-noout', '-ext', 'subjectKeyIdentifier']);
    expect(caText.replace(/[\s:]/g, '').toLowerCase()).toContain(want);
    expect(ca).toContain('BEGIN CERTIFICATE');
  });

  it('is undefined for a certificate without the extension, and for one whose AKI has no keyIdentifier', () => {
    const { leaf } = caAndLeaf('authorityKeyIdentifier=none\n');
    expect(opensslAki(leaf)).toBe('');
    expect(authorityKeyIdentifier(new X509Certificate(leaf).raw)).toBeUndefined();
    const { leaf: byIssuer } = caAndLeaf('authorityKeyIdentifier=issuer:always\n');
    expect(authorityKeyIdentifier(new X509Certificate(byIssuer).raw)).toBeUndefined();
  });

  it('refuses bytes that are not a certificate with an error, never a wrong answer', () => {
    expect(() => authorityKeyIdentifier(Buffer.from([0x30, 0x82, 0xff]))).toThrow(/DER/);
    expect(() => authorityKeyIdentifier(Buffer.from([0x02, 0x01, 0x05]))).toThrow(/not a DER certificate/);
    const { leaf } = caAndLeaf('authorityKeyIdentifier=keyid\n');
    const raw = new X509Certificate(leaf).raw;
    expect(() => authorityKeyIdentifier(raw.subarray(0, raw.length - 10))).toThrow(/truncated DER/);
  });
});
