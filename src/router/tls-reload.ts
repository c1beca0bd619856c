import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';

export interface TlsFiles {
  cert: string;
  key: string;
  chain?: string;
  dhparam?: string;
}

/** The certificate (plus chain) and key of a listener, read now. */
export function readTlsFiles(tls: TlsFiles): { cert: string; key: Buffer; dhparam?: Buffer } {
  return {
    cert: readFileSync(tls.cert, 'utf8') + (tls.chain ? '\n' + readFileSync(tls.chain, 'utf8') : ''),
    key: readFileSync(tls.key),
    dhparam: tls.dhparam ? readFileSync(tls.dhparam) : undefined,
  };
}

/**
 * Reloads a TLS listener's certificate without a restart: when the certificate, chain or key file changes
 * (a watch on their directories: files are replaced by rename) or on SIGHUP, the new pair is read and
 * checked (createSecureContext refuses a key that doesn't match) and handed to `setSecureContext`. Open
 * connections keep the context they were made with; new ones get the new certificate. A bad or half-written
 * pair is logged and the current one kept. Returns a stop function.
 */
export function watchTls(server: HttpsServer, tls: TlsFiles, base: SecureContextOptions, log: Logger, listener: string): () => void {
  const files = [tls.cert, tls.key, ...(tls.chain ? [tls.chain] : [])];
  let current = readSafe();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  function readSafe(): string | undefined {
    try {
      return files.map((f) => readFileSync(f, 'utf8')).join('\0');
    } catch {
      return undefined;
    }
  }

  async function reload(why: string): Promise<void> {
    if (stopped) return;
    let seen: string;
    try {
      seen = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\0');
    } catch (e) {
      log.warn({ listener, err: (e as Error).message }, 'TLS files unreadable; keeping the current certificate');
      return;
    }
    if (seen === current && why !== 'SIGHUP') return;
    try {
      const opts = { ...base, ...readTlsFiles(tls) };
      createSecureContext(opts); // throws on a key that doesn't match the certificate
      server.setSecureContext(opts);
      current = seen;
      log.info({ listener, why }, 'TLS certificate reloaded; new connections get it, open ones keep theirs');
    } catch (e) {
      log.warn({ listener, why, err: (e as Error).message }, 'new TLS files refused; keeping the current certificate');
    }
  }

  const schedule = (why: string) => {
    if (timer) clearTimeout(timer);
    // Key and certificate are replaced one after the other: wait until both have landed.
    timer = setTimeout(() => void reload(why), 150);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  const names = new Set(files.map((f) => basename(f)));
  for (const d of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(d, { persistent: false }, (_ev, name) => {
        if (name === null || names.has(name.toString())) schedule('file changed');
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch (e) {
      log.warn({ listener, dir: d, err: (e as Error).message }, 'cannot watch the TLS directory; reload with SIGHUP');
    }
  }
  const onHup = () => schedule('SIGHUP');
  process.on('SIGHUP', onHup);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
    process.off('SIGHUP', onHup);
  };
}
