import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// `make lab`, `make test` and `make bench` read nothing outside the repository: no file that they run
// may reach for a sibling directory of the checkout.
const ROOT = resolve(import.meta.dirname, '../../..');
const SCANNED = ['Makefile', '.ci', 'src', 'test', 'bench', 'units', 'firewall', 'provisioning', 'examples', 'package.json', 'vitest.config.ts'];
const SKIP = new Set(['node_modules', 'dist', 'build', 'fixtures', 'test-results', '.lab']);

function walk(p: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch {
    return [];
  }
  if (!st.isDirectory()) return [p];
  return readdirSync(p).flatMap((f) => (SKIP.has(f) ? [] : walk(join(p, f))));
}

describe('the repository is self-contained', () => {
  const files = SCANNED.flatMap((s) => walk(join(ROOT, s)));

  it('scans the files make runs', () => expect(files.length).toBeGreaterThan(100));

  // The sibling directory's name is put together here so this file doesn't name it itself.
  const sibling = ['shared'].join('');
  const outside = new RegExp(`\\.\\./${sibling}\\b|/work/${sibling}|['"](?:\\.\\./){4}`);

  it('no file points at a sibling of the checkout or above it', () => {
    const offenders = files.filter((f) => outside.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
