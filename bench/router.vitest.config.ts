import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/router.vitest.config.ts`: WAMP router benchmarks (needs `make build`: the router runs from dist/).
export default defineConfig({ test: { include: ['bench/router*.bench.test.ts'], testTimeout: 900_000, hookTimeout: 120_000, fileParallelism: false } });
