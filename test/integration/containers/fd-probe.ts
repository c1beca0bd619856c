/**
 * Stand-in for the runtime's entry inside the router image: takes the socket-activated descriptors by
 * name (the same listenFdsByName() the router uses) and answers every connection on them with what
 * it sees: the descriptor's name, its uid, capabilities, network interfaces, whether / is writable.
 */
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { listenFdsByName, unsetListenEnv } from '../../../src/systemd/listen-fds.js';

const fds = listenFdsByName();
unsetListenEnv();
const capEff = /CapEff:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
let rootWritable = true;
try {
  writeFileSync('/probe', 'x');
} catch {
  rootWritable = false;
}
for (const [name, list] of fds) {
  for (const fd of list) {
    createServer((sock) => {
      sock.end(
        JSON.stringify({ name, fd, pid: process.pid, uid: process.getuid?.(), capEff, ifaces: Object.keys(networkInterfaces()), rootWritable, argv: process.argv.slice(2), names: [...fds.keys()] }) +
          '\n',
      );
    }).listen({ fd });
  }
}
process.on('SIGTERM', () => process.exit(0));
if (fds.size === 0) {
  process.stderr.write('fd-probe: no socket-activated descriptors\n');
  process.exit(3);
}
