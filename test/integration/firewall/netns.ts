import { run, runOk } from '../../../src/util/exec.js';

/** Network namespaces for firewall tests. Names are short and carry the caller's prefix (bwt-fw…). */
export async function addNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name]);
  await runOk(['ip', 'netns', 'add', name]);
  await runOk(['ip', 'link', 'set', 'lo', 'up'], { netns: name });
}

export async function delNetns(...names: string[]): Promise<void> {
  for (const n of names) await run(['ip', 'netns', 'del', n]);
}

export async function inNs(ns: string, ...argv: string[]): Promise<string> {
  return (await runOk(argv, { netns: ns, timeoutMs: 30_000 })).stdout;
}

/** Polls `fn` until it returns true or the time is up. */
export async function waitFor(fn: () => Promise<boolean>, timeoutMs = 10_000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
