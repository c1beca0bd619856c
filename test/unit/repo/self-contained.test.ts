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
  const files = SCANNED.flatMap((s) => walk(join(ROOT, s))).filter((f) => !f.endsWith('self-contained.test.ts'));

  it('scans the files make runs', () => expect(files.length).toBeGreaterThan(100));

  it('no file points outside the checkout (../shared, ../../..)', () => {
    const offenders = files.filter((f) => {
      const text = readFileSync(f, 'utf8');
      return /\.\.\/shared\b|\/work\/shared|['"]\.\.\/\.\.\/\.\.\/\.\.\//.test(text);
    });
    expect(offenders.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
