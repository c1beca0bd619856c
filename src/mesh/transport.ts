import { createServer, request, type Server } from 'node:http';
import type { Logger } from 'pino';
import { RateLimiter } from '../util/ratelimit.js';
import { TransportError, type MeshTransport } from './protocol.js';
import type { SignedMessage } from './signing.js';

/** Anything that answers agent messages (a MeshNode). */
export interface MessageHandler {
  handle(msg: unknown): Promise<unknown>;
}

/** Delivers messages by calling the receiving node directly (several node runtimes in one process). */
export class InProcessTransport implements MeshTransport {
  readonly nodes = new Map<string, MessageHandler>();
  /** Nodes to treat as unreachable (tests of rollback). */
  readonly unreachable = new Set<string>();

  async send(to: string, msg: SignedMessage): Promise<unknown> {
    if (this.unreachable.has(to)) throw new TransportError(`${to} is unreachable`);
    const n = this.nodes.get(to);
    if (!n) throw new TransportError(`no route to ${to}`);
    // Round-trip through JSON so nothing but plain data crosses, as over the wire.
    return JSON.parse(JSON.stringify(await n.handle(JSON.parse(JSON.stringify(msg)) as unknown)) ?? 'null') as unknown;
  }
}

const MAX_BODY = 64 * 1024;

/** Sends messages as HTTP POST /v1/message to the peer agent's mesh address. */
export class HttpTransport implements MeshTransport {
  constructor(
    private readonly addressOf: (node: string) => string | undefined,
    private readonly port: number,
    private readonly timeoutMs = 5000,
  ) {}

  send(to: string, msg: SignedMessage): Promise<unknown> {
    const host = this.addressOf(to);
    if (!host) return Promise.reject(new TransportError(`no mesh address for ${to}`));
    const data = Buffer.from(JSON.stringify(msg));
    return new Promise((resolve, reject) => {
      const req = request(
        { host, port: this.port, method: 'POST', path: '/v1/message', headers: { 'content-type': 'application/json', 'content-length': data.length }, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              return reject(new TransportError(`${to}: bad reply (HTTP ${res.statusCode})`));
            }
            if (res.statusCode !== 200) return reject(new TransportError(`${to}: ${(body as { error?: string }).error ?? `HTTP ${res.statusCode}`}`));
            resolve((body as { result?: unknown }).result ?? null);
          });
        },
      );
      req.on('timeout', () => req.destroy(new TransportError(`${to} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof TransportError ? e : new TransportError(`${to} is unreachable: ${e.message}`)));
      req.end(data);
    });
  }
}

/**
 * The agent's mesh service: POST /v1/message with a signed JSON message, bound to the node's mesh
 * address only. Replies {result} or {error} (400 for a rejected message).
 */
/**
 * Messages a peer may send per second (and in one burst) before it is answered 429 without its message
 * being read: a signature check costs far more than the refusal, and agents exchange a handful of
 * messages per change (a join, a rotation), so only a misbehaving peer meets the limit.
 */
export const MESSAGE_RATE = { perSecond: 20, burst: 100 };

export function serveAgentMessages(handler: MessageHandler, host: string, port: number, log?: Logger, rate = MESSAGE_RATE): Promise<Server> {
  const limiter = new RateLimiter(rate.perSecond, rate.burst, 10_000);
  let refusedSinceLog = 0;
  let lastRefusalLog = 0;
  const server = createServer((req, res) => {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/v1/message') return reply(404, { error: 'not found' });
    const source = req.socket.remoteAddress ?? 'unknown';
    if (!limiter.take(source)) {
      // one log line per 10 s at most, with the count, so a flood cannot flood the journal either
      refusedSinceLog++;
      if (Date.now() - lastRefusalLog > 10_000) {
        log?.warn({ source, refused: refusedSinceLog }, 'agent messages over the rate limit refused');
        lastRefusalLog = Date.now();
        refusedSinceLog = 0;
      }
      res.setHeader('retry-after', '1');
      res.setHeader('connection', 'close');
      reply(429, { error: 'too many messages' });
      return void req.resume(); // the body is discarded unread
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, { error: 'message too large' });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      let msg: unknown;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { error: 'not JSON' });
      }
      handler.handle(msg).then(
        (result) => reply(200, { result: result ?? null }),
        (e: unknown) => {
          log?.warn({ err: e instanceof Error ? e.message : String(e) }, 'agent message rejected');
          reply(400, { error: e instanceof Error ? e.message : String(e) });
        },
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
