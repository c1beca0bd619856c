// Calls a procedure on a Bulwark cluster from outside, the way any WAMP client does: autobahn-js over
// WebSocket with TLS (wss://) on 443, the router's certificate pinned (nothing else is trusted).
//
// Usage: node examples/client/call.mjs URL CERT_PEM REALM PROCEDURE [ARGS_JSON] [--wait SECONDS]
//   node examples/client/call.mjs wss://192.0.2.11/ n1.pem app com.example.greeter.hello '["Ada"]'
// Prints the result as JSON and exits 0; prints the error and exits 1. With --wait it retries until the
// procedure is registered (a component registers a moment after its container starts); default 15 s.
import autobahn from 'autobahn';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';

const argv = process.argv.slice(2);
const waitAt = argv.indexOf('--wait');
const waitS = waitAt >= 0 ? Number(argv.splice(waitAt, 2)[1]) : 15;
const [url, certFile, realm, procedure, argsJson = '[]'] = argv;
if (!url || !certFile || !realm || !procedure || !Number.isFinite(waitS)) {
  console.error('usage: node call.mjs URL CERT_PEM REALM PROCEDURE [ARGS_JSON] [--wait SECONDS]');
  process.exit(2);
}
const args = JSON.parse(argsJson);
// Trust exactly this certificate (self-signed by the node, or your CA's).
const agent = new Agent({ ca: readFileSync(certFile), keepAlive: false });

function callOnce() {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ transports: [{ type: 'websocket', url, agent }], realm, max_retries: 0 });
    connection.onopen = (session) => {
      session.call(procedure, args).then(
        (result) => {
          connection.close();
          resolve(result);
        },
        (err) => {
          connection.close();
          reject(Object.assign(new Error(err.error ?? String(err)), { wamp: err }));
        },
      );
    };
    connection.onclose = (reason, details) => {
      reject(new Error(`connection ${reason}${details?.message ? `: ${details.message}` : ''}`));
      return true;
    };
    connection.open();
  });
}

const until = Date.now() + waitS * 1000;
for (;;) {
  try {
    const result = await callOnce();
    console.log(JSON.stringify(result));
    process.exit(0);
  } catch (e) {
    // Not registered yet, or the router not reachable yet: retry until --wait runs out.
    const retry = e.message === 'wamp.error.no_such_procedure' || e.message.startsWith('connection ');
    if (!retry || Date.now() > until) {
      console.error(`call ${procedure} failed: ${e.message}${e.wamp?.args?.length ? ` ${JSON.stringify(e.wamp.args)}` : ''}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
