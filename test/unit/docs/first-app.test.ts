import { accessSync, constants, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markedShellBlocks } from '../../helpers/readme.js';

// The README's "Your first app" steps are run by test/system/44-first-app.test.ts; here, cheaply, that
// the section is there, names files that exist, and that the extraction finds exactly the marked blocks.
describe('README "Your first app"', () => {
  const steps = markedShellBlocks(readFileSync(resolve('README.md'), 'utf8'), 'first-app');

  it('builds, adds and calls the greeter', () => {
    const text = steps.join('\n');
    expect(text).toContain('examples/node-greeter/build-image.sh build/examples/node-greeter.tar');
    expect(text).toMatch(/^bulwark app add greeter --image-archive build\/examples\/node-greeter\.tar /m);
    expect(text).toContain('examples/client/call.mjs wss://192.0.2.11/');
    // make lab is the setup before the markers: the system test does not run it (its lab is already up).
    expect(text).not.toContain('make lab');
  });

  it('every script it runs exists (and the build script is executable)', () => {
    accessSync(resolve('examples/node-greeter/build-image.sh'), constants.X_OK);
    accessSync(resolve('examples/python-greeter/build-image.sh'), constants.X_OK);
    accessSync(resolve('examples/client/call.mjs'), constants.R_OK);
  });
});

describe('markedShellBlocks', () => {
  const md = [
    '# x',
    '```sh',
    'before',
    '```',
    '<!-- s:begin -->',
    'text',
    '```sh',
    'one',
    'two',
    '```',
    '```text',
    'not a step',
    '```',
    '```sh',
    'three',
    '```',
    '<!-- s:end -->',
    '```sh',
    'after',
    '```',
  ].join('\n');

  it('returns only the sh blocks between the markers, in order', () => {
    expect(markedShellBlocks(md, 's')).toEqual(['one\ntwo\n', 'three\n']);
  });

  it('refuses a missing, reversed or doubled section, and one without steps', () => {
    expect(() => markedShellBlocks(md, 'nope')).toThrow(/no section marked <!-- nope:begin -->/);
    expect(() => markedShellBlocks('<!-- s:end -->\n<!-- s:begin -->', 's')).toThrow(/no section/);
    expect(() => markedShellBlocks('<!-- s:begin -->\n<!-- s:begin -->\n<!-- s:end -->', 's')).toThrow(/twice/);
    expect(() => markedShellBlocks('<!-- s:begin -->\ntext\n<!-- s:end -->', 's')).toThrow(/no ```sh block/);
  });
});
