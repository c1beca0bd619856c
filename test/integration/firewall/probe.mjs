// Connection probes for firewall packet tests. Prints a JSON array of results.
//   node probe.mjs tcp HOST PORT LOCALADDR TIMEOUT_MS [COUNT]   -> "open" | "timeout" | "refused" | "error:..."
//   node probe.mjs udp HOST PORT LOCALADDR TIMEOUT_MS           -> "reply" | "timeout"
import net from 'node:net';
import dgram from 'node:dgram';

const [proto, host, portText, localAddress, timeoutText, countText] = process.argv.slice(2);
const port = Number(portText);
const timeout = Number(timeoutText);

function tcpOnce() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeout);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('open');
    });
    s.on('error', (e) => {
      clearTimeout(t);
      resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error:${e.code}`);
    });
  });
}

function udpOnce() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve('timeout');
    }, timeout);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve('reply');
    });
    s.bind(0, localAddress, () => s.send('ping', port, host));
  });
}

const out = [];
for (let i = 0; i < Number(countText ?? 1); i++) out.push(proto === 'udp' ? await udpOnce() : await tcpOnce());
process.stdout.write(JSON.stringify(out) + '\n');
