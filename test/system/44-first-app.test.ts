import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulwark, CLI, LAB_CONFIG, onMachine, runCmd, waitFor } from '../helpers/lab.js';
import { markedShellBlocks } from '../helpers/readme.js';

// README "Your first app", run verbatim: every ```sh block between <!-- first-app:begin --> and
// <!-- first-app:end --> goes to bash as written, in the checkout, against the shared lab. What the
// README's setup block does before the markers is done here too: the lab is up and bootstrapped
// (global-setup.ts, as `make lab`), BULWARK_CONFIG names its config and `bulwark` is the checkout's CLI.
const steps = markedShellBlocks(readFileSync(resolve('README.md'), 'utf8'), 'first-app');

beforeAll(async () => {
  // As after `make lab`: the agent has built the router image and started the router (when this file runs
  // alone, right after bootstrap, it may still be doing so).
  await waitFor('router active on n1', async () => (await onMachine('n1', 'systemctl is-active bulwark-router')).stdout.trim() === 'active', 180_000, 1000);
}, 200_000);

afterAll(async () => {
  await bulwark(['app', 'remove', 'greeter', '--node', 'n1']);
  // The build step imported the image into this host's podman storage too.
  await runCmd(['podman', 'rmi', '--force', '--ignore', 'localhost/node-greeter:1']);
});

describe('README: your first app', () => {
  it('its steps build the Node.js greeter, add it to n1 and call it over wss from outside', async () => {
    const script = ['set -euo pipefail', `bulwark() { node ${JSON.stringify(CLI)} "$@"; }`, 'set -x', ...steps].join('\n');
    const t0 = Date.now();
    const r = await runCmd(['bash', '-c', script], { env: { ...process.env, BULWARK_CONFIG: LAB_CONFIG, CI: '1' }, timeoutMs: 600_000 });
    const s = (Date.now() - t0) / 1000;
    process.stderr.write(`[system] README first-app steps took ${s.toFixed(1)} s\n`);
    // On failure: bash's trace (stderr) shows which step stopped, and the command's own message.
    expect(r.code, `${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
    const out = r.stdout.trim().split('\n');
    // The two calls from outside are the last two commands: their results, as call.mjs prints them.
    expect(out.at(-2)).toMatch(/^"Hello, Ada! \(from greeter, Node\.js v\d+\.\d+\.\d+\)"$/);
    expect(out.at(-1)).toBe('5');
    expect(r.stdout).toMatch(/greeter\s+active\/running/);
    expect(s).toBeLessThan(300);
  });

  it('the greeter runs as its own isolated app on n1 and answers only through the router', async () => {
    const unit = await onMachine(
      'n1',
      'systemctl is-active bulwark-app@greeter; podman inspect --format "{{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}}" bulwark-app-greeter',
    );
    expect(unit.stdout.trim().split('\n')).toEqual(['active', expect.stringMatching(/^none true \d+:\d+$/)]);
    // A wrong argument is the component's own error, carried to the outside caller.
    const bad = await runCmd([
      'ip',
      'netns',
      'exec',
      'bwlab-out',
      'node',
      resolve('examples/client/call.mjs'),
      'wss://192.0.2.11/',
      resolve('build/examples/n1.pem'),
      'app',
      'com.example.greeter.add',
      '["x", 1]',
      '--wait',
      '0',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('com.example.error.invalid_argument ["add takes two numbers"]');
  });
});
