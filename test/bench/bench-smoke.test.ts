/**
 * Smoke test of the hot-path benchmark: runs `bench/hot-path.ts --quick --json` for real (a real
 * server child process, the real lab DNS server, real undici/ResilientAgent/got clients, the memory
 * child with --expose-gc) and checks the shape of the report; the same for `bench/isolated.ts` (each
 * client in its own process), and `bench/soak.ts` for a few seconds with tiny settings; and
 * `bench/callgrind-functions.ts` on a small dump written in callgrind's format. It does not judge speed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/hot-path.js';
import type { IsolatedReport } from '../../bench/isolated.js';
import type { SoakReport } from '../../bench/soak.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a benchmark script (default bench/hot-path.ts) with tsx under this Node; kills it if it takes too long. */
function runBench(args: string[], timeoutMs: number, script = 'bench/hot-path.ts', env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bench/hot-path.ts --quick --json --shared-process', () => {
  it('runs raw undici and ResilientAgent in this one process and reports both targets', async () => {
    const ran = await runBench(
      ['--quick', '--json', '--shared-process', '--clients', 'resilient', '--skip-memory', '--requests', '200', '--warmup', '20'],
      60_000,
    );
    expect(ran.code, `benchmark exited with ${ran.code}\n${ran.stderr}`).toBe(0);
    const report = JSON.parse(ran.stdout) as BenchReport;
    expect(report.meta.options.sharedProcess).toBe(true);
    for (const run of report.runs) {
      expect(run.clients.map((c) => c.name)).toEqual(['undici Agent (raw)', 'ResilientAgent']);
      expect(run.clients.every((c) => c.errors === 0 && c.requests === 200)).toBe(true);
      expect(run.target).toMatchObject({ min: 0.97, p99Max: 1.05 });
      expect(run.versusPassThrough).toBeNull();
      expect(run.versusPrevious).toBeNull();
    }
  });
});

describe('bench/hot-path.ts --clients previous', () => {
  it('runs the build BENCH_PREVIOUS names in a process of its own and compares ResilientAgent with it', async () => {
    // The sources stand in for an earlier build: what is checked is that the client runs and is compared.
    const env = { ...process.env, BENCH_PREVIOUS: path.join(root, 'src/index.ts') };
    const ran = await runBench(
      ['--quick', '--json', '--clients', 'resilient,previous', '--skip-memory', '--requests', '200', '--warmup', '20'],
      90_000,
      undefined,
      env,
    );
    expect(ran.code, `benchmark exited with ${ran.code}\n${ran.stderr}`).toBe(0);
    const report = JSON.parse(ran.stdout) as BenchReport;
    for (const run of report.runs) {
      expect(run.clients.map((c) => c.name)).toEqual(['undici Agent (raw)', 'ResilientAgent', 'ResilientAgent (previous build)']);
      expect(run.clients.every((c) => c.errors === 0 && c.requests === 200)).toBe(true);
      const [rt, previous] = [run.clients[1]!, run.clients[2]!];
      expect(run.versusPrevious).toMatchObject({
        other: 'ResilientAgent (previous build)',
        throughputRatio: Math.round((rt.rps / previous.rps) * 1000) / 1000,
        cpuRatio: Math.round((rt.cpuUsPerRequest / previous.cpuUsPerRequest) * 1000) / 1000,
      });
      expect(run.versusPassThrough).toBeNull();
    }
  }, 100_000);

  it('refuses the client without BENCH_PREVIOUS, naming the variable', async () => {
    const { BENCH_PREVIOUS: _, ...env } = process.env;
    const ran = await runBench(['--quick', '--json', '--clients', 'previous', '--skip-memory'], 30_000, undefined, env);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain('BENCH_PREVIOUS');
  });
});

describe('bench/hot-path.ts --quick --json', () => {
  it('runs every client in both layouts and reports well-formed figures', async () => {
    const ran = await runBench(['--quick', '--json', '--requests', '300', '--warmup', '50', '--hosts', '20'], 110_000);
    expect(ran.code, `benchmark exited with ${ran.code}\n${ran.stderr}`).toBe(0);
    const report = JSON.parse(ran.stdout) as BenchReport;

    expect(report.meta.node).toBe(process.version);
    expect(['dist', 'src']).toContain(report.meta.build);
    expect(report.meta.cpu.length).toBeGreaterThan(0);
    expect(report.meta.options).toMatchObject({ requests: 300, hosts: 20 });

    expect(report.runs.map((r) => r.endpoints)).toEqual([1, 8]);
    for (const run of report.runs) {
      const names = run.clients.map((c) => c.name);
      expect(names[0]).toBe('undici Agent (raw)');
      expect(names).toEqual(expect.arrayContaining(['ResilientAgent', 'undici Agent + pass-through handler', 'undici + dns + retry interceptors', 'got']));
      if (run.endpoints > 1) expect(names).toContain('undici BalancedPool (raw)');
      for (const c of run.clients) {
        expect(c.errors, `${run.name} / ${c.name} had failed requests`).toBe(0);
        expect(c.requests).toBe(300);
        expect(c.rps).toBeGreaterThan(0);
        expect(c.p50Ms).toBeGreaterThan(0);
        expect(c.p99Ms).toBeGreaterThanOrEqual(c.p50Ms);
        expect(c.maxMs).toBeGreaterThanOrEqual(c.p99Ms);
        expect(c.cpuUsPerRequest).toBeGreaterThan(0);
        expect(Number.isFinite(c.throughputRatio) && c.throughputRatio > 0).toBe(true);
        expect(c.gc.scavenges).toBeGreaterThanOrEqual(0);
        expect(c.gc.promotedBytesPerRequest).toBeGreaterThanOrEqual(0);
      }
      expect(run.clients[0]!.throughputRatio).toBe(1);
      // ResilientAgent against the pass-through dispatcher, from the two rows.
      const row = (name: string) => run.clients.find((c) => c.name === name)!;
      const [rt, pass] = [row('ResilientAgent'), row('undici Agent + pass-through handler')];
      expect(run.versusPassThrough).toMatchObject({
        other: 'undici Agent + pass-through handler',
        throughputRatio: Math.round((rt.rps / pass.rps) * 1000) / 1000,
        p99Ratio: Math.round((rt.p99Ms / pass.p99Ms) * 1000) / 1000,
        cpuRatio: Math.round((rt.cpuUsPerRequest / pass.cpuUsPerRequest) * 1000) / 1000,
      });
      expect(run.versusPrevious).toBeNull();
      // Not in the default list: it needs another build.
      expect(names).not.toContain('ResilientAgent (previous build)');
      expect(run.target).toMatchObject({ client: 'ResilientAgent', metric: 'throughputRatio', min: 0.97, p99Max: 1.05 });
      const target = run.target!;
      expect(target.throughputPass).toBe(target.value >= 0.97);
      expect(target.p99Pass).toBe(target.p99Ratio <= 1.05);
      expect(target.pass).toBe(target.throughputPass && target.p99Pass);
      // Whether the two processes' collectors settled alike, from their bytes promoted per request.
      const promoted = [run.clients[0]!, run.clients.find((c) => c.name === 'ResilientAgent')!].map((c) => c.gc.promotedBytesPerRequest);
      expect(target.collector).toBe(Math.max(...promoted) > 2 * Math.max(1, Math.min(...promoted)) ? 'differ' : 'alike');
      // Two rounds: the interval is drawn from them and holds the pooled ratio's neighbourhood.
      expect(target.interval[0]).toBeLessThanOrEqual(target.interval[1]);
      expect(target.interval[0]).toBeGreaterThan(0);
    }

    expect(report.memory).not.toBeNull();
    const memory = report.memory!;
    expect(memory.hosts).toBe(20);
    expect(memory.figures.map((f) => f.name)).toEqual(['DnsCache', 'ResilientAgent', 'undici Agent']);
    for (const f of memory.figures) {
      expect(f.count).toBe(20);
      expect(Number.isFinite(f.heapBytesPerUnit)).toBe(true);
    }
    // One endpoint holds at least a pool and a connection: its cost cannot be nothing.
    expect(memory.figures.find((f) => f.name === 'ResilientAgent')!.heapBytesPerUnit).toBeGreaterThan(0);
  }, 120_000);
});

describe('bench/isolated.ts --json', () => {
  it('runs raw undici and ResilientAgent each in its own process, round after round, and reports their ratios', async () => {
    const ran = await runBench(['--json', '--rounds', '2', '--requests', '300', '--warmup', '50'], 110_000, 'bench/isolated.ts');
    expect(ran.code, `benchmark exited with ${ran.code}\n${ran.stderr}`).toBe(0);
    const report = JSON.parse(ran.stdout) as IsolatedReport;
    expect(report).toMatchObject({ node: process.version, rounds: 2, requests: 300, warmup: 50, endpoints: 1 });
    expect(report.rows.map((r) => r.client)).toEqual(['raw', 'resilient']);
    for (const r of report.rows) {
      expect(r.medianRps).toBeGreaterThan(0);
      expect(r.medianCpuUsPerRequest).toBeGreaterThan(0);
      expect(r.throughputRatio).toBeGreaterThan(0);
      expect(r.medianRoundRatio).toBeGreaterThan(0);
      expect(r.cpuRatio).toBeGreaterThan(0);
      // The collector's figures (v8.GCProfiler): 300 requests may see no collection at all.
      expect(Number.isFinite(r.medianPromotedBytesPerRequest) && r.medianPromotedBytesPerRequest >= 0).toBe(true);
      expect(Number.isFinite(r.medianGcPauseUsPerRequest) && r.medianGcPauseUsPerRequest >= 0).toBe(true);
    }
    expect(report.rows[0]).toMatchObject({ throughputRatio: 1, medianRoundRatio: 1, cpuRatio: 1 });
  }, 120_000);
});

describe('bench/soak.ts --json, for a few seconds', () => {
  it('replaces pods under traffic, reads the state every second and gives a passing verdict', async () => {
    const args = ['--json', '--duration', '5', '--hosts', '2', '--replicas', '2', '--concurrency', '8', '--interval', '1', '--replace-every', '1'];
    const ran = await runBench(args, 60_000, 'bench/soak.ts');
    expect(ran.code, `soak exited with ${ran.code}\n${ran.stderr}`).toBe(0);
    const report = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as SoakReport;
    expect(report.meta).toMatchObject({ node: process.version, durationS: 5, hosts: 2, replicas: 2, concurrency: 8 });
    expect(report.samples.length).toBeGreaterThanOrEqual(3);
    expect(report.requests).toBeGreaterThan(100);
    expect(report.replacements).toBeGreaterThanOrEqual(3);
    for (const s of report.samples) {
      expect(s.heapBytes).toBeGreaterThan(0);
      expect(s.origins).toBeLessThanOrEqual(2);
      expect(s.endpointsMax).toBeLessThanOrEqual(report.verdict.endpointsBound);
    }
    expect(report.verdict, report.verdict.reasons.join('; ')).toMatchObject({ pass: true, reasons: [] });
  }, 70_000);
});

describe('bench/callgrind-functions.ts', () => {
  it('names JIT code from the perf map, counts self cost per request, compares two dumps and lists callers', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ridethrough-cg-'));
    // A pid no process of this run has: V8 writes perf maps to /tmp/perf-<pid>.map, where the tool looks.
    const pid = 4_000_000 + (process.pid % 100_000);
    const perfMap = `/tmp/perf-${pid}.map`;
    try {
      await writeFile(perfMap, ['1000 100 JS:*start file:///x/dist/index.js:1:1', '2000 100 JS:*onData /x/node_modules/undici/lib/a.js:2:2', ''].join('\n'));
      // fn 1 (JIT code in ridethrough) costs 3000 of its own and calls fn 2 (500, not its own); fn 3 is a builtin.
      const dump = (builtin: number): string =>
        [
          'version: 1',
          `pid: ${pid}`,
          'events: Ir',
          'fn=(1) 0x0000000000001010',
          '0 3000',
          'cfn=(2) 0x0000000000002004',
          'calls=1 0',
          '0 500',
          'fn=(2)',
          '0 500',
          'fn=(3) Builtins_LoadIC',
          `0 ${builtin}`,
          '',
        ].join('\n');
      await writeFile(path.join(dir, 'a-1.thread01.callgrind'), dump(1000));
      await writeFile(path.join(dir, 'b-1.thread01.callgrind'), dump(3000));
      const ran = await runBench(
        [path.join(dir, 'a-1.thread01.callgrind'), path.join(dir, 'b-1.thread01.callgrind'), '--requests', '10', '--callers', 'onData'],
        60_000,
        'bench/callgrind-functions.ts',
      );
      expect(ran.code, ran.stderr).toBe(0);
      const row = (kind: string): string[] =>
        ran.stdout
          .split('\n')
          .find((l) => l.startsWith(kind))!
          .slice(28)
          .trim()
          .split(/\s+/);
      expect(row('ridethrough')).toEqual(['300', '300']);
      expect(row('undici JavaScript')).toEqual(['50', '50']);
      expect(row('V8 builtins')).toEqual(['100', '300']);
      expect(ran.stdout).toMatch(/\s200\s+100\s+300\s+Builtins_LoadIC/);
      // --callers: the one call of fn 1 into fn 2, per request (1 call and 500 inclusive over 10 requests), in each dump.
      expect(ran.stdout.match(/ 0\.10\s+50 {2}JS:start file:\/\/\/x\/dist\/index\.js:1:1 -> JS:onData /g)).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(perfMap, { force: true });
    }
  }, 70_000);
});
