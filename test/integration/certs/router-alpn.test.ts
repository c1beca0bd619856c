import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { publishAlpnLocal, unpublishAlpnLocal } from '../../../src/certs/store.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir } from '../router/helpers.js';

// The router's side of TLS-ALPN-01 (RFC 8737): the wss listener with acmeChallengeDir presents the agent's
// validation certificate to a ClientHello offering only acme-tls/1 and closes after the handshake; every
// other client (autobahn-js over wss, openssl without ALPN or with acme-tls/1 among others) gets the
// regular certificate and WAMP as before, while the answer is pending.
const mem = memoryLogger();
const tmp = tempDir('bwt-certs-alpn-');
const f = (n: string) => join(tmp.dir, n);
const NAME = 'n1.example.org';
const KA = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
let r: RunningRouter;

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** The leaf certificate the listener presents to `openssl s_client` with these ALPN offers (none: no -alpn). */
async function presented(alpn?: string): Promise<{ cert?: X509Certificate; out: string }> {
  // asynchronous: the router runs in this process
  const args = ['s_client', '-connect', `127.0.0.1:${r.port(0)}`, '-servername', NAME, ...(alpn ? ['-alpn', alpn] : [])];
  const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
  p.stdin.end();
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => p.once('close', resolve));
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(out)?.[0];
  return { cert: pem ? new X509Certificate(pem) : undefined, out };
}

/** The DER of the acmeIdentifier extension (1.3.6.1.5.5.7.1.31) in a certificate, found by its OID bytes. */
function acmeIdentifier(c: X509Certificate): Buffer | undefined {
  const oid = Buffer.from('06082b0601050507011f', 'hex');
  const i = c.raw.indexOf(oid);
  return i < 0 ? undefined : c.raw.subarray(i + oid.length, i + oid.length + 40);
}

beforeAll(async () => {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f('key.pem'),
    '-out',
    f('cert.pem'),
    '-days',
    '30',
    '-subj',
    '/CN=regular',
    '-addext',
    `subjectAltName=DNS:${NAME},IP:127.0.0.1`,
  ]);
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [{ type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], tls: { cert: f('cert.pem'), key: f('key.pem') }, acmeChallengeDir: f('challenge') }],
      auth: { anonymous: { role: 'public' } },
    },
    { log: mem.log },
  );
}, 30_000);
afterAll(async () => {
  await r?.close();
  tmp.cleanup();
});

describe('TLS-ALPN-01 on the wss listener', () => {
  it('answers acme-tls/1 with the validation certificate while ordinary clients keep the regular one and WAMP', async () => {
    await publishAlpnLocal(f('challenge'), NAME, KA, process.getgid?.() ?? 0);
    const file = f(`challenge/${NAME}.tls-alpn-01.pem`);
    expect(statSync(file).mode & 0o777).toBe(0o640);

    const v = await presented('acme-tls/1');
    expect(v.out).toContain('ALPN protocol: acme-tls/1');
    expect(v.cert?.subjectAltName).toBe(`DNS:${NAME}`);
    // critical extension, OCTET STRING of SHA-256(keyAuthorization): 01 01 ff (critical) 04 22 04 20 <digest>
    const ext = acmeIdentifier(v.cert!);
    expect(ext?.subarray(0, 7).toString('hex')).toBe('0101ff04220420');
    expect(ext?.subarray(7, 39)).toEqual(createHash('sha256').update(KA).digest());
    expect(v.cert?.raw.equals(new X509Certificate(readFileSync(file)).raw)).toBe(true);
    expect(mem.lines.some((l) => l.msg === 'answering a TLS-ALPN-01 validation' && l.name === NAME)).toBe(true);

    for (const alpn of [undefined, 'http/1.1', 'acme-tls/1,http/1.1']) {
      const o = await presented(alpn);
      expect(o.cert?.subject, `${alpn}: ${o.out}`).toBe('CN=regular');
    }
    // a real WAMP client over wss while the answer is pending
    const c = await abConnect({
      transports: [{ type: 'websocket', url: `wss://127.0.0.1:${r.port(0)}/`, agent: new HttpsAgent({ ca: readFileSync(f('cert.pem')) }) }],
      realm: 'app',
    } as unknown as autobahn.IConnectionOptions);
    await c.session.register('com.example.echo', (a?: unknown[]) => a?.[0]);
    expect(await c.session.call('com.example.echo', ['still here'])).toBe('still here');
    await closeAb(c);

    unpublishAlpnLocal(f('challenge'), NAME);
    expect((await presented('acme-tls/1')).cert).toBeUndefined(); // no answer: the handshake fails
  });

  it('closes a validation connection right after the handshake (no WAMP, no HTTP)', async () => {
    await publishAlpnLocal(f('challenge'), NAME, KA, process.getgid?.() ?? 0);
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port: r.port(0), servername: NAME, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
    const got = await new Promise<{ alpn: string | false; closed: boolean }>((resolve, reject) => {
      s.once('secureConnect', () => {
        const alpn = s.alpnProtocol ?? false;
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        s.on('data', () => reject(new Error('the validation connection answered data')));
        s.once('close', () => resolve({ alpn, closed: true }));
      });
      s.once('error', reject);
      setTimeout(() => reject(new Error('still open after 5 s')), 5000).unref();
    });
    expect(got).toEqual({ alpn: 'acme-tls/1', closed: true });
  });
});
