#!/usr/bin/env node
// Runs every vitest project (unit, integration, system) once and prints ONE closing line that CI reads:
//   "N passed, N failed" (+ ", N skipped" when any were skipped)
// A test file that fails to load counts as a failure. Exit status is non-zero when anything failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const out = 'test-results/vitest.json';
mkdirSync('test-results', { recursive: true });
rmSync(out, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const started = Date.now();
const r = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.stdout.isTTY ? '1' : '0' } });

let passed = 0,
  failed = 0,
  skipped = 0;
const failures = [];
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  passed = j.numPassedTests ?? 0;
  failed = j.numFailedTests ?? 0;
  skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  // Files that crashed before running any test (syntax error, failed import, failing hook).
  for (const f of j.testResults ?? []) {
    if (f.status === 'failed' && (f.assertionResults ?? []).every((a) => a.status !== 'failed')) {
      failed += 1;
      failures.push({ where: f.name, message: f.message ?? 'the file failed before its tests ran' });
    }
    for (const a of f.assertionResults ?? []) {
      if (a.status === 'failed') failures.push({ where: `${f.name} > ${a.fullName}`, message: (a.failureMessages ?? []).join('\n') });
    }
  }
} catch (e) {
  console.error(`test/run-all: no vitest report (${e.message})`);
  failed += 1;
}
if (r.status !== 0 && failed === 0) failed = 1; // vitest failed for a reason the report doesn't show
// A short account of each failure just above the closing line: a log cut to its last lines still says what failed.
const SHOWN = 12;
if (failures.length) {
  const root = `${process.cwd()}/`;
  console.log(`\nfailed (${failures.length}):`);
  for (const f of failures.slice(0, SHOWN)) {
    console.log(`- ${f.where.replaceAll(root, '')}`);
    const lines = plain(f.message)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('at '));
    for (const l of lines.slice(0, 3)) console.log(`    ${l.length > 400 ? `${l.slice(0, 400)}…` : l}`);
  }
  if (failures.length > SHOWN) console.log(`- and ${failures.length - SHOWN} more (test-results/vitest.json)`);
}
console.log(`(all suites took ${Math.round((Date.now() - started) / 1000)} s)`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);

function plain(text) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes of vitest's messages
  return String(text).replace(/\x1b\[[0-9;]*m/g, '');
}
