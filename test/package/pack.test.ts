import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** One entry of `npm pack --dry-run --json`. */
interface PackReport {
  readonly name: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly entryCount: number;
  readonly files: readonly { readonly path: string; readonly size: number }[];
}

describe('the published tarball (npm pack --dry-run)', () => {
  let pack: PackReport;

  beforeAll(() => {
    if (!existsSync(join(root, 'dist/index.js')) || !existsSync(join(root, 'dist/index.cjs'))) {
      execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], { cwd: root, stdio: 'ignore', timeout: 120_000 });
    }
    // --ignore-scripts: prepack would rebuild; the build above (or CI's) is what gets listed.
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    [pack] = JSON.parse(out) as PackReport[];
  }, 180_000);

  it('holds the library only: dist (no maps), docs and the top-level documents', () => {
    expect(pack.name).toBe('ridethrough');
    const paths = pack.files.map((f) => f.path);
    // One ESM and one CommonJS build of each entry with their types (and the declarations the entries
    // share, in a hashed chunk); no source maps (docs/support.md).
    for (const path of paths) {
      expect(path, path).toMatch(
        /^(dist\/(index|otel|kubernetes)\.(js|cjs|d\.ts|d\.cts)|dist\/[a-z-]+-[\w-]+\.d\.c?ts|docs\/[\w./-]+\.md|README\.md|CHANGELOG\.md|LICENSE|package\.json)$/,
      );
    }
    expect(paths).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'package.json']));
  });

  it('holds no lab code: no CLI, no lab or testbed sources, no bin', () => {
    const paths = pack.files.map((f) => f.path);
    expect(
      paths.filter((p) => /cli|lab|testbed|packages\/|src\//.test(p)),
      'a stale dist? run npm run build',
    ).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: unknown };
    expect(pkg.bin).toBeUndefined();
    for (const file of ['dist/index.js', 'dist/index.cjs']) {
      const code = readFileSync(join(root, file), 'utf8');
      for (const marker of ['runLab', 'ridethrough-lab', 'DnsServer', 'dns-packet', 'iptables'])
        expect(code, `${file} mentions ${marker}`).not.toContain(marker);
    }
  });

  it('stays small: under 300 kB packed and 1.2 MB unpacked (December 2026: 220 kB and 767 kB; source maps would add 1.2 MB unpacked)', () => {
    expect(pack.size).toBeLessThan(300_000);
    expect(pack.unpackedSize).toBeLessThan(1_200_000);
  });
});
