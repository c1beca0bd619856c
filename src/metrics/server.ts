import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export interface MetricsHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  statusPage(): Promise<string>;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** GET/HEAD `/metrics` and `/` only; anything else 404/405. */
export function handle(h: MetricsHandlers, log: Logger) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const out =
      path === '/metrics' ? h.metrics().then((m) => ({ type: m.contentType, body: m.body })) : path === '/' ? h.statusPage().then((body) => ({ type: 'text/html; charset=utf-8', body })) : undefined;
    if (!out) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    out.then(
      (o) => res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': o.type }).end(req.method === 'HEAD' ? undefined : o.body),
      (e: unknown) => {
        log.error({ err: e, path }, 'metrics request failed');
        res.writeHead(500, { ...SECURITY_HEADERS, 'content-type': 'text/plain' }).end('internal error\n');
      },
    );
  };
}

/**
 * The agent's metrics listener: one HTTP server per address (the mesh address, the management addresses),
 * never a wildcard. `sync` binds what is new and closes what is gone (the mesh address appears once the
 * node joins). An address that cannot be bound yet is retried on the next sync.
 */
export class MetricsServer {
  private readonly servers = new Map<string, Server>();
  private port = 0;
  constructor(
    private readonly h: MetricsHandlers,
    private readonly log: Logger,
  ) {}

  /** Addresses bound now. */
  bound(): string[] {
    return [...this.servers.keys()];
  }

  /** Port actually bound at `address` (useful with port 0 in tests). */
  portOf(address: string): number | undefined {
    const a = this.servers.get(address)?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async sync(addresses: readonly string[], port: number): Promise<void> {
    if (port !== this.port) {
      await this.close();
      this.port = port;
    }
    for (const [addr, srv] of [...this.servers]) {
      if (addresses.includes(addr)) continue;
      this.servers.delete(addr);
      srv.close();
    }
    for (const addr of addresses) {
      if (this.servers.has(addr)) continue;
      const srv = createServer(handle(this.h, this.log));
      srv.headersTimeout = 5000;
      srv.requestTimeout = 10_000;
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ host: addr, port, exclusive: true }, () => {
            srv.off('error', reject);
            resolve();
          });
        });
        srv.on('error', (e) => this.log.warn({ err: e, address: addr }, 'metrics listener error'));
        this.servers.set(addr, srv);
        this.log.info({ address: addr, port: this.portOf(addr) }, 'metrics and status page listening');
      } catch (e) {
        this.log.warn({ address: addr, port, err: e instanceof Error ? e.message : String(e) }, 'metrics listener not bound yet; retried next pass');
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(
      all.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
  }
}
