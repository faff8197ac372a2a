import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', otel: 'src/otel/index.ts', kubernetes: 'src/kubernetes/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // No maps: the tarball would carry 0.9 MB of them for readable, unminified code (docs/support.md).
  sourcemap: false,
  clean: true,
  target: 'node22',
  platform: 'node',
  splitting: false,
  treeshake: true,
});
