import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/containers.vitest.config.ts`: app container start → first call, router restart → re-registered.
export default defineConfig({ test: { include: ['bench/containers*.bench.test.ts'], testTimeout: 900_000, hookTimeout: 900_000, fileParallelism: false } });
