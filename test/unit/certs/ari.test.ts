import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ariCertId, certIdOf, fetchRenewalWindow, renewalWindow, serialOctets } from '../../../src/certs/ari.js';
import { renewalDecision, type CertFacts } from '../../../src/certs/plan.js';

describe('ACME renewal information (RFC 9773)', () => {
  it('makes the CertID of the RFC example', () => {
    // RFC 9773 §4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 00:87:65:43:21
    const aki = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
    expect(ariCertId(aki, '0087654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(ariCertId(aki, '87654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('writes serials as minimal DER integers', () => {
    expect(serialOctets('7f').toString('hex')).toBe('7f');
    expect(serialOctets('80').toString('hex')).toBe('0080');
    expect(serialOctets('00007f').toString('hex')).toBe('7f');
    expect(serialOctets('1').toString('hex')).toBe('01');
  });

  it('picks this node an instant in the window and refuses bad replies', () => {
    const w = renewalWindow({ suggestedWindow: { start: '2026-12-10T00:00:00Z', end: '2026-12-12T00:00:00Z' } }, 0.25);
    expect(w.renewAt.toISOString()).toBe('2026-12-10T12:00:00.000Z');
    expect(() => renewalWindow({ suggestedWindow: { start: '2026-12-12T00:00:00Z', end: '2026-12-10T00:00:00Z' } }, 0.5)).toThrow(/ends before/);
    expect(() => renewalWindow({ window: {} }, 0.5)).toThrow();
  });

  it('makes renewal earlier, never later, than the lifetime rule', () => {
    const facts: CertFacts = { names: ['n1.example.org'], issuer: 'CA', serial: '01', notBefore: new Date('2026-12-01T00:00:00Z'), notAfter: new Date('2027-03-01T00:00:00Z'), selfSigned: false };
    const now = new Date('2026-12-05T00:00:00Z');
    expect(renewalDecision(facts.names, facts, now).due).toBe(false);
    const soon = renewalWindow({ suggestedWindow: { start: '2026-12-04T00:00:00Z', end: '2026-12-06T00:00:00Z' } }, 0.1);
    const d = renewalDecision(facts.names, facts, now, undefined, soon);
    expect(d.due).toBe(true);
    expect(d.reason).toMatch(/renewal information/);
    const later = renewalWindow({ suggestedWindow: { start: '2027-02-25T00:00:00Z', end: '2027-02-26T00:00:00Z' } }, 0.5);
    // the lifetime rule (a third left: from 2027-01-31) still decides when the CA's window is later
    expect(renewalDecision(facts.names, facts, new Date('2027-02-01T00:00:00Z'), undefined, later).due).toBe(true);
    expect(renewalDecision(facts.names, facts, now, undefined, later).dueAt?.toISOString()).not.toBe(later.renewAt.toISOString());
  });

  describe('asking the CA', () => {
    // Debian's pebble (2.4) has no renewalInfo endpoint, so a small HTTP server answers as a CA with ARI does.
    let dir: string;
    let server: Server;
    let base = '';
    const asked: string[] = [];
    let pem = '';
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'bwt-ari-'));
      const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Test CA', '-days', '2']);
      o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=n1.example.org']);
      writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:n1.example.org\nauthorityKeyIdentifier=keyid\n');
      o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x87654321', '-days', '1', '-out', 'leaf.pem', '-extfile', 'ext.cnf']);
      pem = readFileSync(join(dir, 'leaf.pem'), 'utf8');
      server = createServer((req, res) => {
        asked.push(req.url ?? '');
        if (req.url === '/dir') return res.end(JSON.stringify({ newNonce: `${base}/nonce`, renewalInfo: `${base}/ari/` }));
        if (req.url?.startsWith('/ari/')) return res.end(JSON.stringify({ suggestedWindow: { start: '2026-12-10T00:00:00Z', end: '2026-12-11T00:00:00Z' } }));
        res.statusCode = 404;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const a = server.address();
      base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    });
    afterAll(() => {
      server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("reads the certificate's AKI and serial and asks renewalInfo/CERTID", async () => {
      const id = certIdOf(pem);
      expect(id).toMatch(/^[A-Za-z0-9_-]{27}\.AIdlQyE$/);
      const w = await fetchRenewalWindow(`${base}/dir`, undefined, pem, 0.5);
      expect(asked).toContain(`/ari/${id}`);
      expect(w?.renewAt.toISOString()).toBe('2026-12-10T12:00:00.000Z');
    });

    it('is silent where the CA offers no renewal information, and says why a request failed', async () => {
      await expect(fetchRenewalWindow(`${base}/nonce`, undefined, pem, 0.5)).rejects.toThrow(/HTTP 404/);
    });
  });
});
