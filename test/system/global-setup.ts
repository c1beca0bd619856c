import { mkdirSync, writeFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { bulwark, LAB_CONFIG } from '../helpers/lab.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `bulwark bootstrap --all --json` output of the first bootstrap of the fresh lab. */
    firstBootstrap: string;
    firstBootstrapSeconds: number;
  }
}

/**
 * One lab per run for every system test: three fresh machines, bootstrapped once. Replaces a lab left
 * running by `make lab` (same names and addresses). Torn down at the end even when tests fail.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const say = (m: string) => process.stderr.write(`[system] ${m}\n`);
  say('lab up: three Debian 12 machines (the rootfs is built once and cached in /var/cache/bulwark/lab)');
  const up = await bulwark(['lab', 'up', '--no-acme', '--config-out', LAB_CONFIG], { config: '', timeoutMs: 20 * 60_000 });
  if (up.code !== 0) throw new Error(`lab up failed (${up.code}): ${up.stderr}\n${up.stdout}`);
  say(up.stdout.trim());
  say('bootstrap --all (packages as an offline bundle, runtime, agent)');
  const t0 = Date.now();
  const bs = await bulwark(['bootstrap', '--all', '--json'], { timeoutMs: 15 * 60_000 });
  const seconds = (Date.now() - t0) / 1000;
  mkdirSync('test-results', { recursive: true });
  writeFileSync('test-results/first-bootstrap.json', bs.stdout);
  say(`bootstrap exited ${bs.code} after ${seconds.toFixed(1)} s`);
  project.provide('firstBootstrap', bs.stdout);
  project.provide('firstBootstrapSeconds', seconds);
  return async () => {
    say('lab down');
    await bulwark(['lab', 'down'], { config: '', timeoutMs: 120_000 });
  };
}
