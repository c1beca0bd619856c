// Listeners for firewall packet tests: `node server.mjs tcp:443 tcp:80 udp:51820 [host]`.
// TCP: accept and write "hi"; UDP: echo. Prints "ready" once every socket listens.
import net from 'node:net';
import dgram from 'node:dgram';

const specs = process.argv.slice(2).filter((a) => a.includes(':'));
const host = process.argv.slice(2).find((a) => !a.includes(':')) ?? '0.0.0.0';
let pending = specs.length;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};
for (const s of specs) {
  const [proto, port] = s.split(':');
  if (proto === 'tcp') {
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      c.end('hi');
    });
    srv.listen(Number(port), host, ready);
  } else {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sock.bind(Number(port), host, ready);
  }
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
