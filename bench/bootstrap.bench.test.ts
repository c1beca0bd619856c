import { describe, expect, it } from 'vitest';
import { bulwark, LAB_CONFIG, LAB_NODES, onMachine } from '../test/helpers/lab.js';

// `make bench`: bootstrap wall time on three fresh lab machines, and the agent's RSS after start, each
// printed next to a baseline measured in the same run on the same machines.
describe('bootstrap and agent', () => {
  it('bootstrap --all on fresh machines; agent RSS', async () => {
    const up = await bulwark(['lab', 'up', '--config-out', LAB_CONFIG], { config: '', timeoutMs: 20 * 60_000 });
    expect(up.code, up.stderr).toBe(0);
    try {
      // Baseline: what moving the same bytes and installing the same packages costs by hand is not
      // separable, so the baseline is one SSH round trip per node (the floor of any remote step).
      const t0 = Date.now();
      await Promise.all(LAB_NODES.map((n) => onMachine(n.name, 'true')));
      const sshMs = Date.now() - t0;
      const t1 = Date.now();
      const bs = await bulwark(['bootstrap', '--all', '--json'], { timeoutMs: 15 * 60_000 });
      const bootMs = Date.now() - t1;
      expect(bs.code, bs.stderr).toBe(0);
      const t2 = Date.now();
      await bulwark(['bootstrap', '--all']);
      const againMs = Date.now() - t2;
      const rss = await Promise.all(LAB_NODES.map(async (n) => Number((await onMachine(n.name, 'ps -o rss= -p $(systemctl show -p MainPID --value bulwark-agent)')).stdout.trim()) / 1024));
      const bare = Number((await onMachine('n1', `/usr/lib/bulwark/node -e "setTimeout(()=>{},1e6)" & sleep 1; ps -o rss= -p $!; kill $!`)).stdout.trim()) / 1024;
      const maxRss = Math.max(...rss);
      const lines = [
        `bootstrap --all, 3 fresh nodes, packages included: ${(bootMs / 1000).toFixed(1)} s (goal < 120 s: ${(bootMs / 120_000).toFixed(2)}× the goal; ${(bootMs / sshMs).toFixed(0)}× one parallel SSH round trip of ${sshMs} ms)`,
        `bootstrap --all again (converged, no changes): ${(againMs / 1000).toFixed(1)} s (${(againMs / bootMs).toFixed(3)}× the first run)`,
        `agent RSS after start: ${rss.map((r) => r.toFixed(0)).join(' / ')} MB (goal < 80 MB: ${(maxRss / 80).toFixed(2)}× the goal; ${(maxRss / bare).toFixed(2)}× a bare node process of ${bare.toFixed(0)} MB)`,
      ];
      process.stdout.write(lines.map((l) => `BENCH ${l}\n`).join(''));
    } finally {
      await bulwark(['lab', 'down'], { config: '' });
    }
  });
});
