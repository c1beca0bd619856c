import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/fabric.vitest.config.ts`: the router fabric across two nodes (needs `make build`: routers run from dist/).
export default defineConfig({ test: { include: ['bench/fabric.bench.test.ts'], testTimeout: 600_000, hookTimeout: 120_000, fileParallelism: false } });
