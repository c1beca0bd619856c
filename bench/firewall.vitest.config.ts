import { defineConfig } from 'vitest/config';

// `npx vitest run -c bench/firewall.vitest.config.ts`: firewall apply benchmarks (nft -j vs iptables-nft-restore, in a namespace).
export default defineConfig({ test: { include: ['bench/firewall*.bench.test.ts'], testTimeout: 900_000, hookTimeout: 120_000, fileParallelism: false } });
