import { defineConfig } from 'vitest/config';
import SystemByName from './test/system/sequencer.js';

// Three layers (see docs/ARCHITECTURE.md "Testing"):
//   unit        pure functions, config -> plan; fast, parallel
//   integration the real tool (nft, wireguard-go, router + real WAMP clients) inside
//               network namespaces each test file creates and removes itself
//   system      three nspawn-booted Debian machines shared by every system test file
//               (one lab per run, set up in test/system/global-setup.ts)
export default defineConfig({
  test: {
    // System test files run in name order (they share one lab); see test/system/sequencer.ts.
    sequence: { sequencer: SystemByName },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // namespaces and real daemons: keep file parallelism low on 2 cores
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          globalSetup: ['test/system/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
