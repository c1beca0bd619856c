import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/util/atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'bw-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes the whole new file through a synced temporary file in the same directory, then renames it', () => {
    const f = join(dir, 'state.json');
    writeFileSync(f, 'old');
    let seen: { tmp: string; tmpContent: string; target: string } | undefined;
    writeFileAtomic(f, 'new', { beforeRename: (tmp) => (seen = { tmp, tmpContent: readFileSync(tmp, 'utf8'), target: readFileSync(f, 'utf8') }) });
    expect(seen?.tmp.startsWith(dir + '/')).toBe(true);
    expect(seen?.tmpContent).toBe('new');
    expect(seen?.target).toBe('old'); // until the rename, readers see the old file
    expect(readFileSync(f, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('a failure before the rename leaves the old file intact and no temporary file', () => {
    const f = join(dir, 'unit.service');
    writeFileSync(f, '[Unit]\nold\n');
    expect(() =>
      writeFileAtomic(f, '[Unit]\nnew\n', {
        beforeRename: () => {
          throw new Error('disk full');
        },
      }),
    ).toThrow('disk full');
    expect(readFileSync(f, 'utf8')).toBe('[Unit]\nold\n');
    expect(readdirSync(dir).filter((n) => n.includes('unit.service'))).toEqual(['unit.service']);
  });

  it('a process killed mid-write leaves the old file intact', () => {
    const f = join(dir, 'members.json');
    writeFileSync(f, '["old"]');
    const mod = resolve('dist/src/util/atomic-write.js');
    const script = `import { writeFileAtomic } from ${JSON.stringify(mod)};
writeFileAtomic(${JSON.stringify(f)}, 'x'.repeat(1 << 20), { beforeRename: () => process.kill(process.pid, 'SIGKILL') });`;
    expect(() => execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' })).toThrow();
    expect(readFileSync(f, 'utf8')).toBe('["old"]');
  });

  it("keeps the old file's mode unless told, and creates new files 0644 or as told", () => {
    const f = join(dir, 'env');
    writeFileSync(f, 'A=1\n');
    chmodSync(f, 0o640);
    writeFileAtomic(f, 'A=2\n');
    expect(statSync(f).mode & 0o777).toBe(0o640);
    writeFileAtomic(f, 'A=3\n', { mode: 0o600 });
    expect(statSync(f).mode & 0o777).toBe(0o600);
    writeFileAtomic(join(dir, 'fresh'), 'x');
    expect(statSync(join(dir, 'fresh')).mode & 0o777).toBe(0o644);
  });

  it('keeps the old owner (as root)', () => {
    if (process.getuid?.() !== 0) return;
    const f = join(dir, 'owned');
    writeFileSync(f, 'a');
    execFileSync('chown', ['1234:2345', f]);
    writeFileAtomic(f, 'b');
    expect([statSync(f).uid, statSync(f).gid]).toEqual([1234, 2345]);
  });
});
