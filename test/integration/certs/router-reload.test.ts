import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, baseRealm, closeAb, memoryLogger, tempDir, until } from '../router/helpers.js';

// The router's side of ACME: a renewed certificate is taken live (open sessions stay, new connections get
// the new one), a pair that doesn't match is refused, and the port-80 listener answers HTTP-01 from the
// challenge directory before redirecting. Real autobahn-js clients over wss, verifying against a test CA.
const mem = memoryLogger();
const tmp = tempDir('bwt-certs-rl-');
const f = (n: string) => join(tmp.dir, n);
const challengeDir = f('challenge');
let r: RunningRouter;
const open: { connection: autobahn.Connection }[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A certificate for 127.0.0.1 with `serial`, signed by the test CA, written as the router's files (key first, then cert, each by rename). */
function installCert(serial: string, keyFrom?: string): void {
  const key = keyFrom ?? f(`key-${serial}.pem`);
  if (!keyFrom) openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  openssl(['req', '-new', '-key', key, '-out', f('req.csr'), '-subj', '/CN=localhost']);
  openssl(['x509', '-req', '-in', f('req.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', `0x${serial}`, '-out', f(`cert-${serial}.pem`), '-days', '30', '-extfile', f('ext.cnf')]);
  writeFileSync(f('key.tmp'), execFileSync('cat', [key]), { mode: 0o600 });
  renameSync(f('key.tmp'), f('key.pem'));
  writeFileSync(f('cert.tmp'), execFileSync('cat', [f(`cert-${serial}.pem`)]));
  renameSync(f('cert.tmp'), f('cert.pem'));
}

/** An https.Agent that trusts only the test CA and records the serial of each server certificate it sees. */
function recordingAgent(seen: string[]): HttpsAgent {
  const agent = new HttpsAgent({ ca: execFileSync('cat', [f('ca.pem')]) });
  const create = agent.createConnection.bind(agent) as (...a: unknown[]) => TLSSocket;
  (agent as unknown as { createConnection: (...a: unknown[]) => TLSSocket }).createConnection = (...a: unknown[]) => {
    const s = create(...a);
    s.once('secureConnect', () => seen.push(s.getPeerCertificate().serialNumber.toLowerCase()));
    return s;
  };
  return agent;
}

async function connect(seen: string[]) {
  // autobahn-js hands a transport's `agent` to its WebSocket (the Connection's top-level options don't carry it)
  const transports = [{ type: 'websocket', url: `wss://127.0.0.1:${r.port(0)}/`, agent: recordingAgent(seen) }];
  const c = await abConnect({ transports, realm: 'app' } as unknown as autobahn.IConnectionOptions);
  open.push(c);
  return c;
}

beforeAll(async () => {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=Bulwark reload test CA']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  installCert('a1');
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], tls: { cert: f('cert.pem'), key: f('key.pem') } },
        { type: 'redirect', host: '127.0.0.1', port: 0, acmeChallengeDir: challengeDir },
      ],
      auth: { anonymous: { role: 'public' } },
    },
    { log: mem.log },
  );
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  await r?.close();
  tmp.cleanup();
});

const reloads = () => mem.lines.filter((l) => l.msg === 'TLS certificate reloaded; new connections get it, open ones keep theirs').length;

describe('live certificate reload', () => {
  it('new connections see the new serial while an open wss session keeps working', async () => {
    const seen: string[] = [];
    const old = await connect(seen);
    await old.session.register('com.example.ping', () => 'pong from the old session');
    expect(seen).toEqual(['a1']);

    installCert('b2');
    await until(() => reloads() === 1, 5000, 'the reload');

    const fresh = await connect(seen);
    expect(seen).toEqual(['a1', 'b2']);
    // the old session, on the old certificate's connection, still answers and calls
    expect(await fresh.session.call('com.example.ping')).toBe('pong from the old session');
    expect(await old.session.call('com.example.ping')).toBe('pong from the old session');
    expect(old.connection.isOpen).toBe(true);
  });

  it('refuses a certificate that does not match its key and keeps serving the current one', async () => {
    // c3 reuses b2's key and is taken; then key.pem alone is replaced by a different key: mismatch
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('other.pem')]);
    installCert('c3', f('key-b2.pem'));
    await until(() => reloads() === 2, 5000, 'the c3 reload');
    writeFileSync(f('key.tmp'), execFileSync('cat', [f('other.pem')]), { mode: 0o600 });
    renameSync(f('key.tmp'), f('key.pem'));
    await until(() => mem.lines.some((l) => l.msg === 'new TLS files refused; keeping the current certificate'), 5000, 'the refusal');
    const seen: string[] = [];
    await connect(seen);
    expect(seen).toEqual(['c3']);
  });
});

function get(path: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((res, rej) => {
    httpGet({ host: '127.0.0.1', port: r.port(1), path, headers: { Host: 'n1.example.org' } }, (resp) => {
      let body = '';
      resp.on('data', (d: Buffer) => (body += d.toString()));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body, location: resp.headers.location }));
    }).on('error', rej);
  });
}

describe('HTTP-01 on the port-80 listener', () => {
  const token = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
  it('serves a published answer, 404 for unknown or malformed tokens, redirects everything else', async () => {
    execFileSync('mkdir', ['-p', challengeDir]);
    writeFileSync(join(challengeDir, token), `${token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`);
    expect(await get(`/.well-known/acme-challenge/${token}`)).toMatchObject({ status: 200, body: `${token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI` });
    expect((await get(`/.well-known/acme-challenge/${token.replace('L', 'M')}`)).status).toBe(404);
    expect((await get('/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd')).status).toBe(404);
    expect((await get('/.well-known/acme-challenge/../../cert.pem')).status).toBe(404);
    // a file that isn't this token's key authorization is never served
    const other = 'A'.repeat(43);
    writeFileSync(join(challengeDir, other), 'not a key authorization');
    expect((await get(`/.well-known/acme-challenge/${other}`)).status).toBe(404);
    expect(await get('/some/page')).toMatchObject({ status: 301, location: 'https://n1.example.org/some/page' });
  });
});
