import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { autoPingOf, listenerPaths, type ListenerConfig, type RouterConfig } from './config.js';
import type { Principal } from './auth/authenticate.js';
import type { Router } from './core/router.js';
import type { ListenerRuntime } from './core/session.js';
import { serveRawSocket } from './transport/rawsocket.js';
import { attachWebSocket } from './transport/websocket.js';
import { serveAcmeChallenge } from './acme-challenge.js';
import { acmeAlpnFront } from './acme-alpn.js';
import { readTlsFiles, watchTls } from './tls-reload.js';

/** Mozilla "intermediate" (the Crossbar.io production list): ECDHE+AESGCM, ECDHE+CHACHA20, DHE+AESGCM/CHACHA20. */
export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface OpenListener {
  name: string;
  type: ListenerConfig['type'];
  /** "host:port", a socket path, or "fd:N". */
  address: string;
  port?: number;
  close(): Promise<void>;
}

export function listenerName(l: ListenerConfig, i: number): string {
  return l.fdName ?? l.path ?? `${l.type}:${l.host ?? '*'}:${l.port}#${i}`;
}

function componentPrincipal(cfg: RouterConfig, name: string): Principal {
  const c = cfg.components.find((x) => x.name === name);
  if (!c) throw new Error(`no component ${name}`);
  return { realm: c.realm, authid: c.authid ?? c.name, authrole: c.role, authmethod: 'trusted', authprovider: 'transport' };
}

function listen(server: NetServer, l: ListenerConfig, fds: Map<string, number[]>): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (addr: string) => {
      server.off('error', reject);
      resolve(addr);
    };
    if (l.fdName !== undefined) {
      const fd = fds.get(l.fdName)?.[0];
      if (fd === undefined) return reject(new Error(`no socket-activated descriptor named "${l.fdName}" (LISTEN_FDNAMES)`));
      server.listen({ fd }, () => done(`fd:${fd}`));
    } else if (l.path !== undefined) {
      const path = l.path;
      try {
        if (lstatSync(path).isSocket()) unlinkSync(path);
      } catch {
        /* not there */
      }
      server.listen(path, () => {
        chmodSync(path, parseInt(l.mode, 8));
        done(path);
      });
    } else {
      server.listen({ host: l.host, port: l.port }, () => {
        const a = server.address() as AddressInfo;
        done(`${a.address}:${a.port}`);
      });
    }
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as HttpServer).closeAllConnections?.();
  });
}

/** Opens one listener (binding it, or taking the systemd-passed fd) and wires it to the router. */
export async function openListener(router: Router, cfg: RouterConfig, l: ListenerConfig, index: number, fds: Map<string, number[]>): Promise<OpenListener> {
  const name = listenerName(l, index);
  const sockets = new Set<import('node:net').Socket>();
  let server: NetServer;
  /** The listener's TLS server when a front (TLS-ALPN-01) listens in its place. */
  let behind: NetServer | undefined;
  let unwatch: (() => void) | undefined;
  if (l.type === 'redirect') {
    const http = createHttpServer((req, res) => {
      if (l.acmeChallengeDir !== undefined && serveAcmeChallenge(l.acmeChallengeDir, req, res)) return;
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      const origin = l.to ?? (/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:.]+\]$/.test(host) ? `https://${host}` : undefined);
      if (!origin) {
        res.writeHead(400, { Connection: 'close' }).end();
        return;
      }
      res.writeHead(301, { Location: origin + (req.url?.startsWith('/') ? req.url : '/'), Connection: 'close', 'Content-Length': 0 }).end();
    });
    http.headersTimeout = cfg.limits.openHandshakeTimeoutMs;
    http.requestTimeout = cfg.limits.openHandshakeTimeoutMs;
    server = http;
  } else {
    const runtime: ListenerRuntime = { name, cfg: l, component: l.component ? componentPrincipal(cfg, l.component) : undefined, ping: autoPingOf(l, cfg.limits) };
    if (l.type === 'rawsocket') {
      server = createNetServer((socket) => serveRawSocket(router, runtime, socket, cfg.limits));
    } else {
      const tls = l.tls;
      const base = { ciphers: tls?.ciphers ?? TLS_CIPHERS, minVersion: 'TLSv1.2' as const, honorCipherOrder: true, ecdhCurve: 'X25519:prime256v1:secp384r1' };
      const https = tls ? createHttpsServer({ ...base, ...readTlsFiles(tls), handshakeTimeout: cfg.limits.openHandshakeTimeoutMs }) : undefined;
      // A renewed certificate is picked up live (file watch or SIGHUP); open sessions are untouched.
      if (tls && https) unwatch = watchTls(https, tls, base, router.log, name);
      const http = https ?? createHttpServer();
      attachWebSocket(http, router, runtime, cfg.limits, tls !== undefined);
      server = http;
      if (https && l.acmeChallengeDir !== undefined) {
        // TLS-ALPN-01: a front reads each ClientHello first and passes it on (src/router/acme-alpn.ts)
        behind = https;
        server = createNetServer();
        acmeAlpnFront(server, https, l.acmeChallengeDir, cfg.limits.openHandshakeTimeoutMs, router.log, name);
      }
    }
  }
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const address = await listen(server, l, fds);
  const paths = l.type === 'websocket' ? listenerPaths(l).map((p) => p.path) : undefined;
  router.log.info({ listener: name, type: l.type, address, component: l.type !== 'redirect' ? l.component : undefined, paths }, 'listening');
  return {
    name,
    type: l.type,
    address,
    port: l.port !== undefined ? Number(address.split(':').pop()) : undefined,
    close: async () => {
      unwatch?.();
      const closing = closeServer(server);
      for (const s of sockets) s.destroy();
      await closing;
      if (behind) await closeServer(behind);
      if (l.path !== undefined) {
        try {
          unlinkSync(l.path);
        } catch {
          /* gone */
        }
      }
    },
  };
}
