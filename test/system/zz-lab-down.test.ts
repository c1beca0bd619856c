import { describe, expect, it } from 'vitest';
import { bulwark, LAB_PREFIX, runCmd } from '../helpers/lab.js';

// Runs last (test/system/sequencer.ts sorts by name): takes the shared lab down and checks nothing is left.
describe('lab down', () => {
  it('removes every machine, overlay, namespace and process', async () => {
    const r = await bulwark(['lab', 'down'], { config: '' });
    expect(r.code, r.stderr).toBe(0);
    const ns = await runCmd(['ip', 'netns', 'list']);
    expect(ns.stdout.split('\n').filter((l) => l.startsWith(`${LAB_PREFIX}-`))).toEqual([]);
    const procs = await runCmd(['pgrep', '-af', `systemd-nspawn.*${LAB_PREFIX}`]);
    expect(procs.stdout.trim()).toBe('');
    const mounts = await runCmd(['grep', `/var/lib/${LAB_PREFIX}`, '/proc/mounts']);
    expect(mounts.stdout.trim()).toBe('');
    const link = await runCmd(['ip', 'link', 'show', `${LAB_PREFIX}-op`]);
    expect(link.code).not.toBe(0);
  });
});
