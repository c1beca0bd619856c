// A WAMP client from outside that authenticates with a ticket: autobahn-js over wss, the node's certificate pinned.
// Usage: node join.mjs URL CA_FILE AUTHID TICKET [hold]
// Prints {"ok":true,"authid","authprovider"} once joined (or {"ok":false,"error"}), then exits; with "hold" it
// stays joined and prints {"left": REASON} when the router ends the session.
import autobahn from 'autobahn';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';

const [url, caFile, authid, ticket, hold] = process.argv.slice(2);
const agent = new Agent({ ca: readFileSync(caFile), keepAlive: false });
let joined = false;
const conn = new autobahn.Connection({
  transports: [{ type: 'websocket', url, agent }],
  realm: 'app',
  authmethods: ['ticket'],
  authid,
  onchallenge: () => ticket,
  max_retries: 0,
});
const timer = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'timeout' }));
  process.exit(1);
}, 10_000);
conn.onopen = (_session, details) => {
  joined = true;
  clearTimeout(timer);
  console.log(JSON.stringify({ ok: true, authid: details.authid, authprovider: details.authprovider }));
  if (hold !== 'hold') {
    conn.close();
    process.exit(0);
  }
};
conn.onclose = (reason, details) => {
  clearTimeout(timer);
  console.log(JSON.stringify(joined ? { left: details?.reason ?? reason } : { ok: false, error: `${reason} ${details?.reason ?? ''}` }));
  process.exit(joined ? 0 : 1);
};
conn.open();
