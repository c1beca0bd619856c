import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameBatch, type FrameHeader } from '../../../src/router/transport/frame-batch.js';
import { WEBSOCKET_HEADER } from '../../../src/router/transport/websocket.js';

// FrameBatch over a real Unix socket pair: what a pass of the event loop queues arrives complete and in
// order (small frames copied into one block, large payloads written as they are in between).
const FOUR: FrameHeader = {
  size: () => 4,
  write(out, at, kind, len) {
    out[at] = kind;
    out.writeUIntBE(len, at + 1, 3);
    return at + 4;
  },
};

let dir: string;
let server: Server;
let sender: Socket;
let received = Buffer.alloc(0);
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bw-fb-'));
  const path = join(dir, 's.sock');
  const accepted = new Promise<void>((res) => {
    server = createServer((s) => {
      s.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
      res();
    }).listen(path);
  });
  await new Promise((r) => server.once('listening', r));
  sender = connect(path);
  await accepted;
});
afterAll(() => {
  sender?.destroy();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** [kind, payload] frames in a byte stream headed like FOUR. */
function parse(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let pos = 0; pos + 4 <= b.length; ) {
    const len = b.readUIntBE(pos + 1, 3);
    out.push([b[pos]!, b.subarray(pos + 4, pos + 4 + len)]);
    pos += 4 + len;
  }
  return out;
}

describe('FrameBatch', () => {
  it('writes small and large frames of one pass in order, and counts them as queued until they leave', async () => {
    received = Buffer.alloc(0);
    const written0 = sender.bytesWritten;
    const batch = new FrameBatch(sender, FOUR, () => true);
    const payloads = [Buffer.from('a'), Buffer.alloc(20_000, 1), Buffer.from('bc'), Buffer.from('d'), Buffer.alloc(70_000, 2), Buffer.from('e')];
    payloads.forEach((p, i) => batch.add(i, p));
    // a large frame ends the open block, and what was queued before it leaves then: the 70 000-byte
    // frame and 'e' are still queued at the end of the pass, the rest is the socket's
    expect(batch.queued).toBe(4 + 70_000 + 4 + 1);
    expect(sender.bytesWritten - written0).toBe(4 + 1 + 4 + 20_000 + 4 + 2 + 4 + 1);
    await new Promise((r) => setImmediate(r));
    expect(batch.queued).toBe(0);
    const total = payloads.reduce((n, p) => n + 4 + p.length, 0);
    await until(() => received.length >= total);
    expect(received.length).toBe(total);
    expect(parse(received).map(([k, p]) => [k, p.toString('hex')])).toEqual(payloads.map((p, i) => [i, p.toString('hex')]));
  });

  it('reserve() gives room for a payload written in place, across full blocks and large frames', async () => {
    received = Buffer.alloc(0);
    const written0 = sender.bytesWritten;
    const batch = new FrameBatch(sender, FOUR, () => true);
    const want: [number, Buffer][] = [];
    // 300 frames of 100 bytes (past the first 2 KiB block and a 64 KiB one), a 20 KiB one in between
    for (let i = 0; i < 300; i++) {
      const p = Buffer.alloc(i === 150 ? 20_000 : 100, i & 0xff);
      want.push([i % 3, p]);
      if (i % 2) batch.add(i % 3, p);
      else {
        const at = batch.reserve(i % 3, p.length); // target is read after reserve() has set it
        p.copy(batch.target, at);
      }
    }
    const total = want.reduce((n, [, p]) => n + 4 + p.length, 0);
    // full blocks left as they ran full; what is queued is the open block's, and the socket has the rest
    expect(batch.queued).toBeGreaterThan(0);
    expect(batch.queued).toBeLessThan(64 * 1024);
    expect(sender.bytesWritten - written0 + batch.queued).toBe(total);
    await until(() => received.length >= total);
    expect(received.length).toBe(total);
    expect(parse(received)).toEqual(want);
  });

  it('a pass that sends more than a block holds hands each full block to the socket at once', async () => {
    received = Buffer.alloc(0);
    const written0 = sender.bytesWritten;
    const batch = new FrameBatch(sender, FOUR, () => true);
    const p = Buffer.alloc(100, 9);
    let firstOut = -1; // how many frames were queued when the socket got its first bytes
    for (let i = 0; i < 2000; i++) {
      batch.add(1, p);
      if (firstOut < 0 && sender.bytesWritten > written0) firstOut = i + 1;
    }
    // the first block (2 KiB) left when the 20th frame did not fit; the 64 KiB ones as they ran full
    expect(firstOut).toBe(20);
    expect(sender.bytesWritten - written0).toBe(2000 * 104 - batch.queued);
    expect(batch.queued).toBe(((2000 - 19) * 104) % (Math.floor(65536 / 104) * 104));
    await until(() => received.length >= 2000 * 104);
    expect(received.length).toBe(2000 * 104);
    expect(parse(received).every(([k, b]) => k === 1 && b.equals(p))).toBe(true);
  });

  it('a block is used again only after the socket is done with it (a reader that lags gets every byte intact)', async () => {
    // a peer that does not read for a while: the socket's buffer fills, writes wait in Node's queue,
    // and the blocks they point into must not be handed out again meanwhile
    const path = join(dir, 'slow.sock');
    let got = Buffer.alloc(0);
    let peer!: Socket;
    const slow = createServer((s) => {
      peer = s;
      s.pause();
      s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    }).listen(path);
    await new Promise((r) => slow.once('listening', r));
    const out = connect(path);
    await until(() => peer !== undefined);
    try {
      const batch = new FrameBatch(out, FOUR, () => true);
      const want: [number, Buffer][] = [];
      for (let pass = 0; pass < 12; pass++) {
        for (let i = 0; i < 1500; i++) {
          const p = Buffer.alloc(60, (pass * 31 + i) & 0xff);
          p.writeUInt16BE(i, 0);
          want.push([pass & 7, p]);
          batch.add(pass & 7, p);
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(out.writableLength).toBeGreaterThan(64 * 1024); // writes were still waiting for the peer
      peer.resume();
      const total = want.length * 64;
      await until(() => got.length >= total, 10_000);
      expect(got.length).toBe(total);
      expect(parse(got)).toEqual(want);
    } finally {
      out.destroy();
      slow.close();
    }
  });

  it('flush() sends at once; a closed connection drops the queue and writes nothing', async () => {
    received = Buffer.alloc(0);
    const batch = new FrameBatch(sender, FOUR, () => true);
    batch.add(7, Buffer.from('now'));
    batch.flush();
    await until(() => received.length === 7);
    let open = false;
    const closed = new FrameBatch(sender, FOUR, () => open);
    closed.add(1, Buffer.from('never'));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed.queued).toBe(0);
    expect(received.length).toBe(7);
    open = true; // nothing was kept for later
    closed.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(parse(received)).toEqual([[7, Buffer.from('now')]]);
  });
});

describe('WebSocket frame header (RFC 6455 5.2)', () => {
  it.each([
    [0, [0x82, 0]],
    [125, [0x82, 125]],
    [126, [0x82, 126, 0, 126]],
    [65535, [0x82, 126, 0xff, 0xff]],
    [65536, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    [2 ** 32 + 5, [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5]],
  ])('a %i-byte payload', (len, bytes) => {
    const out = Buffer.alloc(10, 0xee);
    expect(WEBSOCKET_HEADER.size(len)).toBe(bytes.length);
    expect(WEBSOCKET_HEADER.write(out, 0, 0x82, len)).toBe(bytes.length);
    expect([...out.subarray(0, bytes.length)]).toEqual(bytes);
  });
});
