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

  const names = [
    'ResilientAgent',
    'resilientFetch',
    'createResilientFetch',
    'resilience',
    'installGlobalDispatcher',
    'RidethroughError',
    'DeadlineExceededError',
    'DnsCache',
    'channelNames',
  ];

  it('imports as ESM through the exports map', () => {
    const out = run(
      'esm.mjs',
      `import * as rt from 'ridethrough';\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof rt[n]])));\nconst agent = new rt.ResilientAgent();\nawait agent.close();\n`,
    );
    for (const [name, type] of JSON.parse(out) as [string, string][]) expect(type, name).not.toBe('undefined');
  });

  it('requires as CommonJS through the exports map', () => {
    const out = run(
      'cjs.cjs',
      `const rt = require('ridethrough');\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof rt[n]])));\nnew rt.ResilientAgent().close().then(() => {});\n`,
    );
    for (const [name, type] of JSON.parse(out) as [string, string][]) expect(type, name).not.toBe('undefined');
  });

  it('ESM and CommonJS builds agree on error classes', () => {
    const out = run(
      'errors.cjs',
      `const rt = require('ridethrough');\nconst e = new rt.DeadlineExceededError(100);\nconsole.log(JSON.stringify({ code: e.code, isBase: e instanceof rt.RidethroughError, name: e.name }));\n`,
    );
    expect(JSON.parse(out)).toEqual({ code: 'RIDETHROUGH_DEADLINE_EXCEEDED', isBase: true, name: 'DeadlineExceededError' });
  });

  it('dual-package hazard: an error of one build is instanceof its own class (and RidethroughError) in the other, never of another class', () => {
    const out = run(
      'dual.mjs',
      `import { createRequire } from 'node:module';
import * as esm from 'ridethrough';
const cjs = createRequire(import.meta.url)('ridethrough');
const classes = ['RidethroughError', 'DeadlineExceededError', 'AttemptsExhaustedError', 'NotRetryableError', 'NoEndpointError', 'DnsResolutionError', 'CircuitOpenError', 'BudgetExhaustedError'];
const make = (rt, name) => {
  switch (name) {
    case 'RidethroughError': return new rt.RidethroughError('RIDETHROUGH_NO_ENDPOINT', 'base');
    case 'DeadlineExceededError': return new rt.DeadlineExceededError(100);
    case 'AttemptsExhaustedError': return new rt.AttemptsExhaustedError(3);
    case 'NotRetryableError': return new rt.NotRetryableError('not-idempotent');
    case 'NoEndpointError': return new rt.NoEndpointError('h');
    case 'DnsResolutionError': return new rt.DnsResolutionError('h', 'ENOTFOUND');
    case 'CircuitOpenError': return new rt.CircuitOpenError('http://h:1', undefined);
    case 'BudgetExhaustedError': return new rt.BudgetExhaustedError();
  }
};
const matrix = [];
for (const [from, to] of [[esm, cjs], [cjs, esm]]) {
  if (from.RidethroughError === to.RidethroughError) throw new Error('one copy only: the test would prove nothing');
  for (const made of classes.slice(1)) {
    const err = make(from, made);
    matrix.push([made, classes.filter((c) => err instanceof to[c])]);
  }
}
// A subclass of the user's stays specific; foreign values are no ridethrough errors.
class MyDeadline extends esm.DeadlineExceededError {}
const mine = new MyDeadline(5);
const extra = {
  mineIsCjsDeadline: mine instanceof cjs.DeadlineExceededError,
  mineIsCjsBase: mine instanceof cjs.RidethroughError,
  cjsDeadlineIsMine: make(cjs, 'DeadlineExceededError') instanceof MyDeadline,
  plainError: new Error('x') instanceof cjs.RidethroughError,
  nullValue: null instanceof esm.RidethroughError,
  stringValue: 'RIDETHROUGH_DNS' instanceof esm.RidethroughError,
  // The bundler keeps the class names (errors take theirs from the class).
  names: [esm.RidethroughError.name, cjs.RidethroughError.name, new cjs.RidethroughError('RIDETHROUGH_DNS', 'x').name, make(cjs, 'CircuitOpenError').name],
};
// A real give-up of the CommonJS build (a refused loopback port, 2 attempts) checked with the ESM classes.
import net from 'node:net';
const server = net.createServer().listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const port = server.address().port;
await new Promise((r) => server.close(r));
const real = await cjs.resilientConnect({ host: '127.0.0.1', port, maxAttempts: 2, deadline: 5000 }).then(() => undefined, (e) => e);
extra.real = { code: real.code, attempts: real.attempts.length, exhausted: real instanceof esm.AttemptsExhaustedError, base: real instanceof esm.RidethroughError, deadline: real instanceof esm.DeadlineExceededError };
console.log(JSON.stringify({ matrix, extra }));
`,
    );
    const { matrix, extra } = JSON.parse(out) as { matrix: [string, string[]][]; extra: Record<string, unknown> };
    expect(matrix).toHaveLength(14);
    for (const [made, matches] of matrix) expect(matches, made).toEqual(['RidethroughError', made]);
    expect(extra).toEqual({
      mineIsCjsDeadline: true,
      mineIsCjsBase: true,
      cjsDeadlineIsMine: false,
      plainError: false,
      nullValue: false,
      stringValue: false,
      names: ['RidethroughError', 'RidethroughError', 'RidethroughError', 'CircuitOpenError'],
      real: { code: 'RIDETHROUGH_ATTEMPTS_EXHAUSTED', attempts: 2, exhausted: true, base: true, deadline: false },
    });
  });

  it('ships the files package.json names', () => {
    const pkg = JSON.parse(
      execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(require("./package.json")))'], { cwd: root, encoding: 'utf8' }),
    ) as {
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
