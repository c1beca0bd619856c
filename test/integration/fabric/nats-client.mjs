// A minimal NATS client speaking the text protocol, for the fabric tests (run inside a namespace).
//   node nats-client.mjs HOST PORT SEEDFILE|- anon                      -> {"result":"-ERR 'Authorization Violation'"} | {"result":"PONG"}
//   node nats-client.mjs HOST PORT SEEDFILE sub SUBJECT COUNT TIMEOUT_MS -> prints "ready" once subscribed, then {"messages":[...]}
//   node nats-client.mjs HOST PORT SEEDFILE pub SUBJECT PAYLOAD          -> {"result":"PONG"} or the -ERR line
// With a seed file the client authenticates as that nkey user (signs the server's nonce).
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { fromSeed } from '@nats-io/nkeys';

const [host, portText, seedFile, mode, subject, arg1, arg2] = process.argv.slice(2);
const out = (o) => {
  process.stdout.write(JSON.stringify(o) + '\n');
  process.exit(0);
};
const s = net.connect({ host, port: Number(portText) });
s.setTimeout(8000, () => out({ result: 'timeout' }));
s.on('error', (e) => out({ result: `connect failed: ${e.code ?? e.message}` }));
let buf = '';
let connected = false;
const messages = [];
s.on('data', (d) => {
  buf += d.toString('utf8');
  for (;;) {
    const i = buf.indexOf('\r\n');
    if (i < 0) return;
    const line = buf.slice(0, i);
    if (line.startsWith('MSG ')) {
      const size = Number(line.split(' ').pop());
      if (buf.length < i + 2 + size + 2) return;
      messages.push(buf.slice(i + 2, i + 2 + size));
      buf = buf.slice(i + 2 + size + 2);
      if (mode === 'sub' && messages.length >= Number(arg1)) out({ messages });
      continue;
    }
    buf = buf.slice(i + 2);
    if (line.startsWith('INFO ') && !connected) {
      connected = true;
      const info = JSON.parse(line.slice(5));
      const connect = { verbose: false, pedantic: false, lang: 'test', version: '0', protocol: 1, headers: false };
      if (seedFile !== '-' && mode !== 'anon') {
        const kp = fromSeed(new Uint8Array(readFileSync(seedFile)));
        connect.nkey = kp.getPublicKey();
        connect.sig = Buffer.from(kp.sign(new TextEncoder().encode(info.nonce ?? ''))).toString('base64url');
      }
      s.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
      if (mode === 'sub') s.write(`SUB ${subject} 1\r\nPING\r\n`);
      else if (mode === 'pub') s.write(`PUB ${subject} ${Buffer.byteLength(arg1)}\r\n${arg1}\r\nPING\r\n`);
      else s.write('PING\r\n');
    } else if (line.startsWith('-ERR')) {
      out({ result: line });
    } else if (line === 'PONG') {
      if (mode === 'sub') {
        process.stdout.write('ready\n');
        setTimeout(() => out({ messages }), Number(arg2));
      } else out({ result: 'PONG' });
    } else if (line === 'PING') {
      s.write('PONG\r\n');
    }
  }
});
