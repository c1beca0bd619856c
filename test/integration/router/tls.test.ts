import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { baseRealm, memoryLogger, tempDir, until } from './helpers.js';

// The TLS WebSocket listener with the production settings, judged by testssl.sh; HSTS; the port-80
// redirect; and both listeners taken from systemd-style socket activation (systemd-socket-activate).
const mem = memoryLogger();
const tmp = tempDir('bwt-rt-tls-');
const f = (n: string) => join(tmp.dir, n);
let r: RunningRouter;
const children: ChildProcess[] = [];
const ROOT = resolve(import.meta.dirname, '../../..');

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

beforeAll(async () => {
  // test CA and a server certificate for 127.0.0.1/localhost, made now (keys 0600, never committed)
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=Bulwark test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('key.pem'), '-out', f('req.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n');
  openssl(['x509', '-req', '-in', f('req.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('cert.pem'), '-days', '90', '-extfile', f('ext.cnf')]);
  openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', f('dh.pem')]);
  for (const k of ['ca.key', 'key.pem']) chmodSync(f(k), 0o600);
  r = await startRouter(
    {
      realms: [baseRealm()],
      listeners: [
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'], tls: { cert: f('cert.pem'), key: f('key.pem'), chain: f('ca.pem'), dhparam: f('dh.pem') } },
        { type: 'redirect', host: '127.0.0.1', port: 0 },
      ],
      auth: { anonymous: { role: 'public' } },
    },
    { log: mem.log },
  );
}, 60_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await r?.close();
  tmp.cleanup();
});

function get(url: string, opts: Record<string, unknown> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((res, rej) => {
    const fn = url.startsWith('https') ? httpsGet : httpGet;
    fn(url, opts, (resp) => {
      resp.resume();
      res({ status: resp.statusCode ?? 0, headers: resp.headers });
    }).on('error', rej);
  });
}

function wssOpen(port: number): Promise<string> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, ['wamp.2.json'], { ca: readFileSync(f('ca.pem')) });
    ws.on('upgrade', (resp) => {
      if (!String(resp.headers['strict-transport-security'] ?? '').includes('max-age=31536000')) rej(new Error('no HSTS on upgrade'));
    });
    ws.on('open', () => {
      res(ws.protocol);
      ws.close();
    });
    ws.on('error', rej);
  });
}

describe('TLS listener', () => {
  it('speaks WAMP over wss with HSTS on upgrade and plain HTTP responses', async () => {
    expect(await wssOpen(r.port(0))).toBe('wamp.2.json');
    const resp = await get(`https://127.0.0.1:${r.port(0)}/`, { ca: readFileSync(f('ca.pem')) });
    expect(resp.headers['strict-transport-security']).toMatch(/max-age=31536000/);
  });

  it('refuses TLS 1.1', async () => {
    const err = await get(`https://127.0.0.1:${r.port(0)}/`, { ca: readFileSync(f('ca.pem')), maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }).then(
      () => 'connected',
      (e: Error) => e.message,
    );
    expect(err).not.toBe('connected');
  });

  it('testssl.sh: no HIGH/CRITICAL, TLS 1.0/1.1 off, forward secrecy, HSTS', async () => {
    const json = f('testssl.json');
    await new Promise<void>((res, rej) => {
      const c = spawn(
        'testssl',
        ['--quiet', '--warnings', 'off', '--color', '0', '--ip', 'one', '--add-ca', f('ca.pem'), '--jsonfile', json, '-p', '-s', '-f', '-h', '-U', `https://127.0.0.1:${r.port(0)}/`],
        {
          stdio: 'ignore',
          env: { ...process.env, TERM: 'dumb' },
        },
      );
      children.push(c);
      c.on('error', rej);
      c.on('close', () => res());
    });
    const findings = JSON.parse(readFileSync(json, 'utf8')) as { id: string; severity: string; finding: string }[];
    const byId = (id: string) => findings.find((x) => x.id === id);
    const bad = findings.filter((x) => x.severity === 'HIGH' || x.severity === 'CRITICAL');
    expect(bad, JSON.stringify(bad)).toEqual([]);
    expect(byId('TLS1')?.finding).toMatch(/not offered/);
    expect(byId('TLS1_1')?.finding).toMatch(/not offered/);
    expect(byId('SSLv3')?.finding).toMatch(/not offered/);
    expect(byId('TLS1_2')?.finding).toMatch(/offered/);
    // forward secrecy ("PFS" in testssl 3.0, "FS" later)
    expect((byId('PFS') ?? byId('FS'))?.severity).toBe('OK');
    const hsts = byId('HSTS_time') ?? byId('HSTS');
    expect(hsts?.severity).toBe('OK');
    expect(hsts?.finding).toMatch(/31536000/);
  }, 240_000);
});

describe('redirect listener', () => {
  it('answers 301 to the https URL of the same host and path', async () => {
    const resp = await get(`http://127.0.0.1:${r.port(1)}/some/path?x=1`, { headers: { Host: 'wamp.example.test' } });
    expect(resp.status).toBe(301);
    expect(resp.headers.location).toBe('https://wamp.example.test/some/path?x=1');
  });
});

describe('socket activation', () => {
  it('bulwark router takes both listeners from systemd by name', async () => {
    const main = join(ROOT, 'dist/src/cli/main.js');
    expect(existsSync(main), 'build first (make build)').toBe(true);
    writeFileSync(
      f('router.yaml'),
      [
        'realms: [{ name: app, roles: [{ name: public, permissions: [{ uri: com.example., match: prefix, call: true }] }] }]',
        'listeners:',
        `  - { type: websocket, fdName: https, auth: [anonymous], tls: { cert: ${f('cert.pem')}, key: ${f('key.pem')}, dhparam: ${f('dh.pem')} } }`,
        '  - { type: redirect, fdName: http }',
        'auth: { anonymous: { role: public } }',
      ].join('\n'),
    );
    // systemd-socket-activate binds the ports (a random pair; another try if taken)
    let c!: ChildProcess;
    let logs: string[] = [];
    let https = 0;
    let httpPort = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      https = 20000 + 2 * Math.floor(Math.random() * 10000);
      httpPort = https + 1;
      logs = [];
      const lines = logs;
      c = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${https}`, '-l', `127.0.0.1:${httpPort}`, '--fdname=https:http', process.execPath, main, 'router', '--config', f('router.yaml')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(c);
      c.stderr!.on('data', (d) => lines.push(String(d)));
      await until(() => c.exitCode !== null || lines.join('').split('Listening on').length > 2, 10_000, 'systemd-socket-activate');
      if (c.exitCode === null) break;
    }
    // the first connection starts the router, which then serves it from the inherited socket
    const proto = await wssOpen(https).catch((e: Error) => `${e.message}\n${logs.join('')}`);
    expect(proto).toBe('wamp.2.json');
    const resp = await get(`http://127.0.0.1:${httpPort}/x`, { headers: { Host: 'a.example.test' } });
    expect(resp.status).toBe(301);
    expect(logs.join('')).toMatch(/"address":"fd:3"/);
    c.kill('SIGTERM');
    await until(() => c.exitCode !== null, 10_000, 'router exit');
  }, 60_000);
});
