// A WAMP session from outside over wss (autobahn-js, CBOR), verifying the node's certificate against
// ROOT_FILE only: the ACME CA root with NAME the name to check (the connection goes to the node's address),
// or NAME `-` for a pinned self-signed certificate checked for the URL's address.
// Usage: node acme-session.mjs URL ROOT_FILE NAME REALM
// Prints {"open":true,"serial":...} once the session is open, then one command per line on stdin:
//   PROCEDURE                  a call with no arguments        -> {"call":"result"|"error",...}
//   call PROCEDURE ARGS_JSON   a call with arguments           -> the same, with "procedure"
//   sub TOPIC                  subscribe                       -> {"subscribed":TOPIC}, then {"event":...} per event
// At end of input it waits for the answers, then closes.
import autobahn from 'autobahn';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [url, rootFile, name, realm] = process.argv.slice(2);
const agent = new Agent({ ca: readFileSync(rootFile), ...(name && name !== '-' ? { servername: name } : {}), keepAlive: false });
let serial = '';
const create = agent.createConnection.bind(agent);
agent.createConnection = (...a) => {
  const s = create(...a);
  s.once('secureConnect', () => (serial = s.getPeerCertificate().serialNumber.toLowerCase()));
  return s;
};
const out = (o) => console.log(JSON.stringify({ ...o, at: Date.now() }));
const conn = new autobahn.Connection({ transports: [{ type: 'websocket', url, agent, serializers: [new autobahn.serializer.CBORSerializer()] }], realm, max_retries: 0 });
conn.onclose = (reason, details) => {
  out({ open: false, reason, details: details?.message ?? details?.reason ?? '' });
  process.exit(1);
};
conn.onopen = (session) => {
  out({ open: true, serial });
  const rl = createInterface({ input: process.stdin });
  const pending = [];
  const call = (procedure, args) =>
    session.call(procedure, args).then(
      (r) => out({ call: 'result', procedure, result: r }),
      (e) => out({ call: 'error', procedure, error: e.error ?? String(e) }),
    );
  rl.on('line', (line) => {
    const [verb, arg = '', ...rest] = line.trim().split(' ');
    if (verb === 'sub')
      pending.push(
        session
          .subscribe(arg, (args, _kwargs, details) => out({ event: arg, args, publisher: details?.publisher_authid ?? null }))
          .then(
            () => out({ subscribed: arg }),
            (e) => out({ subscribed: false, topic: arg, error: e.error ?? String(e) }),
          ),
      );
    else if (verb === 'call') pending.push(call(arg, JSON.parse(rest.join(' ') || '[]')));
    else if (verb) pending.push(call(verb, []));
  });
  // end of input: the calls made so far are answered first, then the session closes
  rl.on('close', async () => {
    await Promise.allSettled(pending);
    conn.onclose = () => process.exit(0);
    conn.close();
  });
};
conn.open();
