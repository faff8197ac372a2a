import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests bind fixed loopback addresses and iptables chains; run files one at a time.
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
