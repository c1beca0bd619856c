import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/bootstrap.vitest.config.ts`: bootstrap time and agent RSS on a fresh lab.
export default defineConfig({ test: { include: ['bench/bootstrap*.bench.test.ts'], testTimeout: 1_800_000, hookTimeout: 600_000, fileParallelism: false } });
