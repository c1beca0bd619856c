// A WAMP caller from outside: autobahn-js over wss with the node's certificate pinned (nothing else trusted).
// Usage: node call.mjs URL CA_FILE REALM PROCEDURE ARGS_JSON [UNTIL_MS]
// Retries until the call succeeds or UNTIL_MS passes; prints {"ok", "result", "ms"} as JSON.
import autobahn from 'autobahn';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';

const [url, caFile, realm, procedure, argsJson = '[]', untilMs = '0'] = process.argv.slice(2);
const agent = new Agent({ ca: readFileSync(caFile), keepAlive: false });
const t0 = Date.now();

function once() {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({
      transports: [{ type: 'websocket', url, agent, serializers: [new autobahn.serializer.CBORSerializer()] }],
      realm,
      max_retries: 0,
    });
    const timer = setTimeout(() => {
      conn.close();
      reject(new Error('timeout'));
    }, 5000);
    conn.onopen = (session) => {
      session.call(procedure, JSON.parse(argsJson)).then(
        (r) => {
          clearTimeout(timer);
          conn.close();
          resolve(r);
        },
        (e) => {
          clearTimeout(timer);
          conn.close();
          reject(new Error(e.error ?? String(e)));
        },
      );
    };
    conn.onclose = (reason, details) => {
      clearTimeout(timer);
      reject(new Error(`${reason} ${details?.reason ?? ''}`));
      return true;
    };
    conn.open();
  });
}

let last = '';
for (;;) {
  try {
    const result = await once();
    console.log(JSON.stringify({ ok: true, result, ms: Date.now() - t0 }));
    process.exit(0);
  } catch (e) {
    last = e.message;
  }
  if (Date.now() - t0 > Number(untilMs)) break;
  await new Promise((r) => setTimeout(r, 100));
}
console.log(JSON.stringify({ ok: false, error: last, ms: Date.now() - t0 }));
process.exit(1);
