import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 §8.3 tokens: base64url only, so a token is always a plain file name (no dots, no slashes). */
const TOKEN = /^[A-Za-z0-9_-]{22,256}$/;

/**
 * Answers an HTTP-01 validation request from `dir` (the agent's challenge directory, mounted read-only):
 * GET/HEAD /.well-known/acme-challenge/TOKEN → 200 text/plain with the key authorization, 404 when there
 * is none. Returns false for any other path (the caller redirects those).
 */
export function serveAcmeChallenge(dir: string, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '';
  if (!url.startsWith(PREFIX)) return false;
  const token = url.slice(PREFIX.length);
  const notFound = () => res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close', 'Content-Length': 0 }).end();
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !TOKEN.test(token)) {
    notFound();
    return true;
  }
  readFile(join(dir, token), 'utf8').then(
    (text) => {
      const body = text.trim();
      // Only a key authorization for this very token is served (never some other file someone put there).
      if (!body.startsWith(`${token}.`) || !/^[A-Za-z0-9_.-]+$/.test(body)) return notFound();
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(req.method === 'HEAD' ? undefined : body);
    },
    () => notFound(),
  );
  return true;
}
