// A WAMP session from outside over wss, verifying the node's certificate for NAME against the ACME CA root
// only (autobahn-js; the connection goes to the node's address, TLS checks NAME).
// Usage: node acme-session.mjs URL ROOT_FILE NAME REALM
// Prints {"open":true,"serial":...} once the session is open, then for each line on stdin makes a call over
// the same session and prints {"call":...}; closes on end of input.
import autobahn from 'autobahn';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [url, rootFile, name, realm] = process.argv.slice(2);
const agent = new Agent({ ca: readFileSync(rootFile), servername: name, keepAlive: false });
let serial = '';
const create = agent.createConnection.bind(agent);
agent.createConnection = (...a) => {
  const s = create(...a);
  s.once('secureConnect', () => (serial = s.getPeerCertificate().serialNumber.toLowerCase()));
  return s;
};
const conn = new autobahn.Connection({ transports: [{ type: 'websocket', url, agent, serializers: [new autobahn.serializer.CBORSerializer()] }], realm, max_retries: 0 });
conn.onclose = (reason, details) => {
  console.log(JSON.stringify({ open: false, reason, details: details?.message ?? details?.reason ?? '' }));
  process.exit(1);
};
conn.onopen = (session) => {
  console.log(JSON.stringify({ open: true, serial }));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (proc) => {
    session.call(proc.trim(), []).then(
      (r) => console.log(JSON.stringify({ call: 'result', result: r })),
      (e) => console.log(JSON.stringify({ call: 'error', error: e.error ?? String(e) })),
    );
  });
  rl.on('close', () => {
    conn.onclose = () => process.exit(0);
    conn.close();
  });
};
conn.open();
