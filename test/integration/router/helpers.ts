import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import autobahn from 'autobahn';
import { createLogger } from '../../../src/log/logger.js';
import type { RouterConfigInput } from '../../../src/router/config.js';

/** Collects the router's log lines (JSON) so tests can assert on them. */
export function memoryLogger(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ name: 'router-test', level, pretty: false, destination }), lines };
}

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type AbSession = autobahn.Session;

/** Opens an autobahn-js connection; resolves with the session, rejects with the close reason. */
export function abConnect(options: autobahn.IConnectionOptions): Promise<{ session: AbSession; connection: autobahn.Connection }> {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ max_retries: 0, retry_if_unreachable: false, ...options } as autobahn.IConnectionOptions);
    let opened = false;
    connection.onopen = (session) => {
      opened = true;
      resolve({ session, connection });
    };
    connection.onclose = (reason, details) => {
      if (!opened) reject(new Error(`${reason}: ${JSON.stringify(details)}`));
      return true; // no reconnect
    };
    connection.open();
  });
}

export function closeAb(c: { connection: autobahn.Connection } | undefined): Promise<void> {
  if (!c) return Promise.resolve();
  return new Promise((resolve) => {
    const conn = c.connection;
    if (!conn.isOpen) return resolve();
    conn.onclose = () => {
      resolve();
      return true;
    };
    try {
      conn.close();
    } catch {
      resolve();
    }
  });
}

/** Polls `fn` until it returns true (bounded). */
export async function until(fn: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A realm with an open test role and a restricted one. */
export function baseRealm(): NonNullable<NonNullable<RouterConfigInput>['realms']>[number] {
  return {
    name: 'app',
    roles: [
      {
        name: 'backend',
        permissions: [
          { uri: 'com.example.', match: 'prefix', call: true, register: true, publish: true, subscribe: true, disclose: { caller: true, publisher: true } },
          { uri: 'wamp.session.', match: 'prefix', call: true, subscribe: true },
        ],
      },
      {
        name: 'public',
        permissions: [
          { uri: 'com.example.', match: 'prefix', call: true, register: true, publish: true, subscribe: true },
          { uri: 'com.example.secret', match: 'exact' },
          { uri: 'wamp.session.', match: 'prefix', call: true, subscribe: true },
        ],
      },
    ],
  };
}
