// A port watcher for reboot tests, run from the outside namespace: keeps connecting to HOST on each port
// (one loop per port, an attempt every INTERVAL_MS at most, each given TIMEOUT_MS) until its stdin ends,
// then prints every attempt as JSON: {"attempts": [[msSinceEpoch, port, "open"|"refused"|"timeout"|"error:CODE"], ...]}.
// Prints "watching" once the loops run.
// Usage: node port-watch.mjs HOST PORT,PORT,... [INTERVAL_MS] [TIMEOUT_MS]
import net from 'node:net';

const [host, portList, intervalText = '100', timeoutText = '250'] = process.argv.slice(2);
const ports = portList.split(',').map(Number);
const interval = Number(intervalText);
const timeout = Number(timeoutText);
const attempts = [];
let stop = false;

function once(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
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

async function loop(port) {
  while (!stop) {
    const t0 = Date.now();
    attempts.push([t0, port, await once(port)]);
    const rest = interval - (Date.now() - t0);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }
}

const loops = ports.map(loop);
process.stdout.write('watching\n');
process.stdin.on('end', async () => {
  stop = true;
  await Promise.all(loops);
  process.stdout.write(JSON.stringify({ attempts }) + '\n');
  process.exit(0);
});
process.stdin.resume();
