import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
let consumer: string;

/** Runs a script in a consumer project whose node_modules/ridethrough is this package. */
function run(file: string, code: string): string {
  writeFileSync(join(consumer, file), code);
  return execFileSync(process.execPath, [join(consumer, file)], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
}

describe('the built package', () => {
  beforeAll(() => {
    if (!existsSync(join(root, 'dist/index.js')) || !existsSync(join(root, 'dist/index.cjs'))) {
      execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], { cwd: root, stdio: 'ignore', timeout: 120_000 });
    }
    consumer = mkdtempSync(join(tmpdir(), 'ridethrough-consumer-'));
    mkdirSync(join(consumer, 'node_modules'));
    symlinkSync(root, join(consumer, 'node_modules/ridethrough'), 'dir');
  });

  afterAll(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  const names = ['ResilientAgent', 'resilientFetch', 'createResilientFetch', 'resilience', 'installGlobalDispatcher', 'RidethroughError', 'DeadlineExceededError', 'DnsCache', 'channelNames'];

  it('imports as ESM through the exports map', () => {
    const out = run('esm.mjs', `import * as rt from 'ridethrough';\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof rt[n]])));\nconst agent = new rt.ResilientAgent();\nawait agent.close();\n`);
    for (const [name, type] of JSON.parse(out) as [string, string][]) expect(type, name).not.toBe('undefined');
  });

  it('requires as CommonJS through the exports map', () => {
    const out = run('cjs.cjs', `const rt = require('ridethrough');\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof rt[n]])));\nnew rt.ResilientAgent().close().then(() => {});\n`);
    for (const [name, type] of JSON.parse(out) as [string, string][]) expect(type, name).not.toBe('undefined');
  });

  it('ESM and CommonJS builds agree on error classes', () => {
    const out = run('errors.cjs', `const rt = require('ridethrough');\nconst e = new rt.DeadlineExceededError(100);\nconsole.log(JSON.stringify({ code: e.code, isBase: e instanceof rt.RidethroughError, name: e.name }));\n`);
    expect(JSON.parse(out)).toEqual({ code: 'RIDETHROUGH_DEADLINE_EXCEEDED', isBase: true, name: 'DeadlineExceededError' });
  });

  it('ships the files package.json names', () => {
    const pkg = JSON.parse(execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(require("./package.json")))'], { cwd: root, encoding: 'utf8' })) as {
      exports: Record<string, { import: { types: string; default: string }; require: { types: string; default: string } }>;
      engines: { node: string };
      sideEffects: boolean;
    };
    const main = pkg.exports['.']!;
    for (const f of [main.import.types, main.import.default, main.require.types, main.require.default]) expect(existsSync(join(root, f)), f).toBe(true);
    expect(pkg.engines.node).toMatch(/22\.19/);
    expect(pkg.sideEffects).toBe(false);
  });
});
