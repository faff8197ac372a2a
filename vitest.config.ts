import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The lab (packages/lab) imports the library by its public name; here that is the source, as tsconfig's paths say.
    alias: [
      { find: /^ridethrough$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^ridethrough\/kubernetes$/, replacement: fileURLToPath(new URL('./src/kubernetes/index.ts', import.meta.url)) },
    ],
  },
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
