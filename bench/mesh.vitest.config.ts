import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/mesh.vitest.config.ts`: the mesh benchmarks (namespaces + wireguard-go).
export default defineConfig({ test: { include: ['bench/mesh*.bench.test.ts'], testTimeout: 600_000, hookTimeout: 300_000, fileParallelism: false } });
