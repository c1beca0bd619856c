import { inflateSync } from 'node:zlib';

/** A decoded 8-bit RGB(A) PNG (what Chromium's --screenshot writes): width, height, RGBA pixels. */
export interface Png {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** Decodes a non-interlaced 8-bit RGB or RGBA PNG (enough for screenshots); throws on anything else. */
export function decodePng(buf: Buffer): Png {
  if (buf.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  let at = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      colorType = data[9] ?? -1;
      if (data[8] !== 8 || data[12] !== 0 || (colorType !== 2 && colorType !== 6)) throw new Error(`unsupported PNG (depth ${data[8]}, colour type ${colorType}, interlace ${data[12]})`);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? (cur[i - bpp] as number) : 0;
      const b = prev[i] as number;
      const c = i >= bpp ? (prev[i - bpp] as number) : 0;
      const x = line[i] as number;
      let v: number;
      if (filter === 0) v = x;
      else if (filter === 1) v = x + a;
      else if (filter === 2) v = x + b;
      else if (filter === 3) v = x + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      } else throw new Error(`bad PNG filter ${filter}`);
      cur[i] = v & 255;
    }
    for (let px = 0; px < width; px++) {
      out.set([cur[px * bpp] as number, cur[px * bpp + 1] as number, cur[px * bpp + 2] as number, bpp === 4 ? (cur[px * bpp + 3] as number) : 255], (y * width + px) * 4);
    }
    prev = cur;
  }
  return { width, height, rgba: out };
}

/** Share of pixels that differ from the most common colour (the background), and how many colours there are. */
export function pixelStats(p: Png): { foreground: number; colours: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < p.rgba.length; i += 4) {
    const k = ((p.rgba[i] as number) << 16) | ((p.rgba[i + 1] as number) << 8) | (p.rgba[i + 2] as number);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const total = p.width * p.height;
  const bg = Math.max(...counts.values());
  return { foreground: (total - bg) / total, colours: counts.size };
}
