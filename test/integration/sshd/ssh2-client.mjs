// Bulwark's own SSH client (src/remote/ssh.ts over npm ssh2, from dist/) run inside a client namespace.
//   node ssh2-client.mjs session CONFIG NODE KNOWN_HOSTS   reads shell commands (one per line) on stdin, prints
//                                                          one JSON line per command; "upload SRC DST" uploads
//   node ssh2-client.mjs password HOST                     tries a password login with raw ssh2
//   node ssh2-client.mjs forward HOST KEY                  key login, then asks for a TCP forward (forwardOut);
//                                                          reason 1 is SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Client } from 'ssh2';

const dist = (p) => join(process.cwd(), 'dist/src', p);
const [mode, ...args] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === 'session') {
  const { loadConfig } = await import(dist('config/index.js'));
  const { NodeSession } = await import(dist('remote/ssh.js'));
  const [configPath, nodeName, knownHosts] = args;
  const cfg = loadConfig(configPath);
  let s;
  try {
    s = await NodeSession.connect(
      cfg.nodes.find((n) => n.name === nodeName),
      cfg,
      knownHosts,
    );
    out({ ready: true });
  } catch (e) {
    out({ ready: false, error: e.message });
    process.exit(0);
  }
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      if (line.startsWith('upload ')) {
        const [, src, dst] = line.split(' ');
        await s.upload(src, dst);
        out({ uploaded: dst });
      } else out(await s.exec(line));
    } catch (e) {
      out({ error: e.message });
    }
  }
  s.close();
} else {
  const [host, key] = args;
  const c = new Client();
  const done = (o) => {
    out(o);
    c.end();
    setTimeout(() => process.exit(0), 100);
  };
  c.on('error', (e) => done({ error: e.message, level: e.level }));
  c.on('ready', () => {
    if (mode === 'password') return done({ error: 'logged in with a password' });
    c.forwardOut('127.0.0.1', 40000, '127.0.0.1', 22, (err) => done(err ? { error: err.message, reason: err.reason } : { forwarded: true }));
  });
  c.connect({
    host,
    port: 22,
    username: 'root',
    readyTimeout: 10_000,
    hostVerifier: () => true,
    ...(mode === 'password' ? { password: 'not-the-password', tryKeyboard: true } : { privateKey: readFileSync(key) }),
  });
}
