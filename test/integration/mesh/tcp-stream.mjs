// A TCP stream across the mesh: `server ADDR PORT` echoes; `client ADDR PORT MS` sends a chunk every 5 ms
// for MS milliseconds, checks every byte comes back in order, prints JSON and exits 0 (1 on any error).
import net from 'node:net';
const [mode, addr, port, ms] = process.argv.slice(2);
if (mode === 'server') {
  const srv = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  srv.listen(Number(port), addr, () => process.stdout.write('listening\n'));
} else {
  const chunk = Buffer.alloc(512);
  let sent = 0,
    recv = 0,
    seq = 0,
    bad = false,
    maxGapMs = 0,
    last = Date.now();
  const expect = [];
  const s = net.connect(Number(port), addr);
  s.setNoDelay(true);
  s.on('error', (e) => {
    process.stdout.write(JSON.stringify({ ok: false, error: e.message, sent, recv }) + '\n');
    process.exit(1);
  });
  s.on('data', (b) => {
    const now = Date.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    for (const byte of b) {
      if (byte !== expect[recv % expect.length]) bad = true;
      recv++;
    }
  });
  s.on('connect', () => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      chunk.fill(seq++ & 255);
      if (expect.length < 512 * 256) for (let i = 0; i < 512; i++) expect.push((seq - 1) & 255);
      s.write(chunk);
      sent += chunk.length;
      if (Date.now() - t0 > Number(ms)) {
        clearInterval(iv);
        const end = Date.now() + 10000;
        const check = setInterval(() => {
          if (recv >= sent || Date.now() > end) {
            clearInterval(check);
            const ok = recv === sent && !bad;
            process.stdout.write(JSON.stringify({ ok, sent, recv, bad, maxGapMs }) + '\n');
            s.destroy();
            process.exit(ok ? 0 : 1);
          }
        }, 20);
      }
    }, 5);
  });
}
