import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as NetServer, Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ACME_TLS_ALPN, isAcmeValidation, MAX_HELLO_RECORD, peekClientHello } from './client-hello.js';

/** Lower-case DNS names only: the name becomes part of a file name in the challenge directory. */
const NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The file (private key + validation certificate, PEM) that answers TLS-ALPN-01 for `name`; throws on anything but a DNS name. */
export function alpnCertFile(name: string): string {
  if (!NAME.test(name)) throw new Error('refusing a TLS-ALPN-01 name that is not a lower-case DNS name');
  return `${name}.tls-alpn-01.pem`;
}

/**
 * TLS-ALPN-01 (RFC 8737) on a TLS listener: every new connection's first record is read before TLS starts
 * (one peek per connection). A ClientHello offering `acme-tls/1` and nothing else goes to a small TLS server
 * that presents the validation certificate the agent wrote for the SNI name in `dir`, negotiates
 * `acme-tls/1` and closes after the handshake; every other connection goes, bytes untouched, to `tls`
 * (the listener's own server, which never listens itself). No certificate for the name: the handshake fails.
 */
export function acmeAlpnFront(front: NetServer, tls: NetServer, dir: string, handshakeTimeoutMs: number, log: Logger, listener: string): void {
  const challenge = createTlsServer({
    ALPNProtocols: [ACME_TLS_ALPN],
    minVersion: 'TLSv1.2',
    handshakeTimeout: handshakeTimeoutMs,
    SNICallback: (name, cb) => {
      let file: string;
      try {
        file = join(dir, alpnCertFile(name));
      } catch (e) {
        return cb(e as Error, undefined);
      }
      readFile(file, 'utf8').then(
        (pem) => {
          let ctx: SecureContext;
          try {
            ctx = createSecureContext({ key: pem, cert: pem });
          } catch (e) {
            return cb(e as Error, undefined);
          }
          log.info({ listener, name }, 'answering a TLS-ALPN-01 validation');
          cb(null, ctx);
        },
        () => {
          log.warn({ listener, name }, 'TLS-ALPN-01 validation for a name without a pending answer');
          cb(new Error('no TLS-ALPN-01 answer'), undefined);
        },
      );
    },
  });
  // RFC 8737 §3: nothing but the handshake happens on this connection
  challenge.on('secureConnection', (s) => s.end());
  challenge.on('tlsClientError', (_e, s) => s.destroy());

  front.on('connection', (socket: Socket) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
    const hand = (to: NetServer) => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('error', onError);
      socket.off('end', onError);
      socket.unshift(buf); // the TLS server reads these first (Node feeds a socket's buffered bytes to TLS)
      to.emit('connection', socket);
    };
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    function onReadable(): void {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) buf = Buffer.concat([buf, chunk]);
      const h = peekClientHello(buf);
      if (h.kind === 'more' && buf.length < MAX_HELLO_RECORD) return;
      hand(isAcmeValidation(h) ? challenge : tls);
    }
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('end', onError);
  });
}
