/**
 * Hot-path benchmark of ridethrough against raw undici, in one run.
 *
 * With no failures, compares requests per second, p50/p99 latency and client CPU per request of:
 * - raw `undici.Agent` on IP origins (the baseline every ratio is relative to);
 * - `ResilientAgent` with default options, on a host name served by the lab DNS server;
 * - raw `undici.Agent` behind a dispatcher that only wraps each handler in one that passes every callback
 *   on (`passthrough`): the floor for any wrapping dispatcher, so ResilientAgent's own work shows apart;
 * - `undici.Agent` composed with `interceptors.dns()` (lookup over the lab DNS server) and `interceptors.retry()`;
 * - `got`, with a keep-alive `http.Agent` and a lookup over the lab DNS server;
 * - (8-endpoint run only) raw `undici.BalancedPool` over the 8 IP origins.
 *
 * The server is `node:http` in a child process (bench/server.ts). Two runs: one endpoint, then 8
 * endpoints behind one name (raw undici round-robins over the 8 IP origins). Each client runs in a
 * process of its own (bench/client-worker.ts), as it would alone in an application; with
 * `--shared-process` all run in this one, sharing undici's code. Clients take turns in interleaved rounds
 * (A B C D, B C D A, …: every client once per round, the first one rotating; one client sends at a time)
 * after a warm-up, each with the same concurrency and number of requests, with a young-generation GC
 * before every batch. Then the memory benchmark (bench/memory.ts, in a child with `--expose-gc`).
 *
 * Usage: `npm run bench -- [--requests N] [--concurrency N] [--rounds N] [--warmup N] [--hosts N]
 *         [--endpoints N] [--delay MS] [--clients LIST] [--agent-options JSON] [--shared-process]
 *         [--skip-memory] [--quick] [--json]`
 *
 * `BENCH_WORKER_FLAGS='--trace-gc'` passes node flags to the client processes (to see their collector).
 * `BENCH_PREVIOUS=<dist/index.js of an earlier build>` (scripts/bench-build.sh prints one) with
 * `--clients …,previous` runs that build's ResilientAgent too, and compares this build's with it.
 *
 * The targets (ResilientAgent ≥ 0.97 × raw undici's throughput and p99 ≤ 1.05 × raw undici's) are
 * printed as PASS/FAIL; the exit code does not depend on them (timings on a shared machine are noisy).
 * The exit code is non-zero only when the benchmark itself fails.
 *
 * @module
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { subjectBuild } from './subject.js';
import type { WorkerReply, WorkerRequest } from './client-worker.js';
import {
  type BatchResult,
  type Client,
  type ClientId,
  type ClientLayout,
  clientIds,
  exposedGc,
  makeClients,
  passThroughName,
  previousName,
  resilientName,
  runBatch,
} from './clients.js';
import { DnsServer } from '@ridethrough/testbed';
import {
  dnsAddress,
  forkTs,
  hotAddresses,
  type LatencySummary,
  maxMemoryHosts,
  median,
  memoryAddress,
  memoryHost,
  nextMessage,
  round,
  ServerProcess,
  summarize,
} from './lib.js';
import type { MemoryFigure, MemoryReply, MemoryRequest } from './memory.js';

/** Benchmark settings. */
export interface BenchOptions {
  /** Measured requests per client per run. */
  requests: number;
  /** Requests in flight per client. */
  concurrency: number;
  /** Interleaved rounds the measured requests are split into. */
  rounds: number;
  /** Warm-up requests per client per run (not measured). */
  warmup: number;
  /** Endpoints behind one name in the second run. */
  endpoints: number;
  /** Hosts for the memory benchmark (0 skips it). */
  hosts: number;
  /** Server delay before each response, ms (0: answer at once, the CPU-bound hot path). */
  delay: number;
  /** Which clients run (ids from {@link clientIds}); raw undici, the baseline, always does. */
  clients: ClientId[];
  /** Extra ResilientAgent options (`--agent-options JSON`), to see what a mechanism costs. */
  agentOptions: Record<string, unknown>;
  /** All clients in this one process, sharing undici's code (`--shared-process`), instead of one process each. */
  sharedProcess: boolean;
  /** Fresh clients (and processes) this many times per layout, the rounds split between them (`--repeat`). */
  repeat: number;
}

export { type ClientId, clientIds } from './clients.js';

/** One client's figures in one run. */
export interface ClientResult {
  /** Client name. */
  name: string;
  /** Measured requests that succeeded. */
  requests: number;
  /** Measured requests that failed (expected 0). */
  errors: number;
  /** Requests per second over all rounds. */
  rps: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Mean latency, ms. */
  meanMs: number;
  /** Largest latency, ms. */
  maxMs: number;
  /** Client process CPU time (user + system) per request, µs. */
  cpuUsPerRequest: number;
  /** Client CPU time / wall time, percent (100 = one core busy). */
  clientCpuPercent: number;
  /** Server process CPU time / wall time, percent. */
  serverCpuPercent: number;
  /** Connections the server accepted from this client (warm-up included). */
  connections: number;
  /** rps / raw undici's rps. */
  throughputRatio: number;
  /** Median over rounds of (this round's rps / raw undici's rps in the same round). */
  medianRoundRatio: number;
  /** cpuUsPerRequest / raw undici's. */
  cpuRatio: number;
  /** p99Ms / raw undici's. */
  p99Ratio: number;
  /** Median over rounds of (this round's p99 / raw undici's p99 in the same round). */
  medianRoundP99Ratio: number;
  /** 95 % interval of {@link throughputRatio}, from resampling the rounds (bootstrap, paired by round). */
  throughputInterval: [number, number];
  /** The collector during the measured requests: young-generation and full collections, and per request the pause (µs) and the bytes promoted to the old generation. */
  gc: { scavenges: number; markCompacts: number; pauseUsPerRequest: number; promotedBytesPerRequest: number };
}

/** One run (one server layout). */
export interface RunResult {
  /** Run name. */
  name: string;
  /** Endpoints (IP addresses) behind the name. */
  endpoints: number;
  /** Client rows; the first is the baseline. */
  clients: ClientResult[];
  /** The hot-path targets for ResilientAgent: throughput and p99 against raw undici in the same run. */
  target: HotPathTarget | null;
  /** ResilientAgent against the pass-through dispatcher (the cost of its work beyond being a wrapper), when both ran. */
  versusPassThrough: ClientComparison | null;
  /** ResilientAgent against the previous build's (`--clients previous`): whether the hot path kept its speed. */
  versusPrevious: ClientComparison | null;
}

/** ResilientAgent's figures divided by another client's in the same run (informational). */
export interface ClientComparison {
  /** The other client. */
  other: string;
  /** ResilientAgent's requests per second / the other's, over the whole run. */
  throughputRatio: number;
  /** 95 % interval of {@link throughputRatio} (bootstrap, paired by round). */
  throughputInterval: [number, number];
  /** ResilientAgent's p99 / the other's. */
  p99Ratio: number;
  /** ResilientAgent's client CPU per request / the other's. */
  cpuRatio: number;
}

/** ResilientAgent against raw undici in one run: throughput ≥ {@link throughputTarget} × and p99 ≤ {@link p99Target} ×. */
export interface HotPathTarget {
  client: string;
  metric: 'throughputRatio';
  /** Least throughput ratio that passes. */
  min: number;
  /** The run's throughput ratio (all rounds pooled). */
  value: number;
  /** Median of the per-round throughput ratios. */
  medianRoundRatio: number;
  /** 95 % bootstrap interval of `value`. */
  interval: [number, number];
  /** Largest p99 ratio that passes. */
  p99Max: number;
  /** The run's p99 ratio (all requests pooled). */
  p99Ratio: number;
  /** Median of the per-round p99 ratios. */
  medianRoundP99Ratio: number;
  /** Both pass on the pooled figures. */
  pass: boolean;
  /** The throughput target passes. */
  throughputPass: boolean;
  /** The p99 target passes. */
  p99Pass: boolean;
  /**
   * Whether the two clients' processes settled alike in the collector: `differ` when one promoted more
   * than twice the other's bytes per request (V8 pretenured undici's body-consume object in one of them:
   * docs/benchmarks.md, "The heavy state found"), so the ratios mix ridethrough's cost with that state.
   */
  collector: 'alike' | 'differ';
}

/** Memory figures. */
export interface MemoryResult {
  /** Hosts measured. */
  hosts: number;
  /** Figures per client. */
  figures: MemoryFigure[];
  /** ResilientAgent's heap bytes per endpoint minus raw undici's per origin. */
  ridethroughOverheadPerEndpoint: number;
}

/** The whole report (the `--json` output). */
export interface BenchReport {
  meta: {
    node: string;
    /** Where ResilientAgent came from: `dist`, `src`, or the build `BENCH_SUBJECT` named. */
    build: string;
    undici: string;
    cpu: string;
    cores: number;
    date: string;
    loadAverageBefore: number[];
    loadAverageAfter: number[];
    options: BenchOptions;
  };
  runs: RunResult[];
  memory: MemoryResult | null;
}

/** The target: ResilientAgent keeps at least this share of raw undici's throughput… */
const throughputTarget = 0.97;
/** …and its p99 latency stays within this multiple of raw undici's, in the same run. */
const p99Target = 1.05;

interface Tally {
  latencies: Float64Array;
  count: number;
  errors: number;
  firstError: unknown;
  elapsedMs: number;
  cpuMicros: number;
  serverCpuMicros: number;
  connections: number;
  roundRps: number[];
  /** Requests and wall time per round (for the bootstrap interval). */
  roundCount: number[];
  roundMs: number[];
  roundP99: number[];
  /** Collector figures summed over the measured batches. */
  gc: { scavenges: number; markCompacts: number; pauseUs: number; promotedBytes: number };
}

function log(json: boolean, line: string): void {
  // Progress goes to stderr in --json mode, so stdout is exactly one JSON document.
  if (json) process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
}

/** One client as the rounds drive it: in this process, or in a worker process of its own. */
interface Runner {
  readonly name: string;
  batch(n: number): Promise<BatchResult>;
  close(): Promise<void>;
}

/** A client in this process (`--shared-process`). */
function inProcess(client: Client, concurrency: number): Runner {
  return { name: client.name, batch: (n) => runBatch(client, n, concurrency, true), close: () => client.close() };
}

/** A client in a process of its own (bench/client-worker.ts), started with `--expose-gc`. */
async function inWorker(id: ClientId, layout: ClientLayout, concurrency: number): Promise<Runner> {
  // The previous build's process takes that build as the one under test.
  const env = id === 'previous' ? { ...process.env, BENCH_SUBJECT: process.env.BENCH_PREVIOUS } : process.env;
  const child = forkTs('./client-worker.ts', ['--expose-gc', ...(process.env.BENCH_WORKER_FLAGS ?? '').split(' ').filter(Boolean)], env);
  const ask = async <K extends WorkerReply['type']>(message: WorkerRequest, type: K): Promise<Extract<WorkerReply, { type: K }>> => {
    const reply = nextMessage(child, (m): m is WorkerReply => typeof m === 'object' && m !== null && 'type' in m, 600_000);
    child.send(message);
    const r = await reply;
    if (r.type === 'error') throw new Error(`benchmark client ${id} failed: ${r.message}`);
    if (r.type !== type) throw new Error(`benchmark client ${id}: expected ${type}, got ${r.type}`);
    return r as Extract<WorkerReply, { type: K }>;
  };
  let ready: Extract<WorkerReply, { type: 'ready' }>;
  try {
    ready = await ask({ type: 'init', id, layout }, 'ready');
  } catch (err) {
    // A client that cannot start (bad --agent-options) must not keep the benchmark alive through its IPC channel.
    child.kill();
    throw err;
  }
  return {
    name: ready.name,
    async batch(n) {
      const r = await ask({ type: 'batch', n, concurrency }, 'batch');
      return { ...r, latencies: Float64Array.from(r.latencies) };
    },
    async close() {
      try {
        await ask({ type: 'close' }, 'closed');
        // Let it exit on its own (node writes --cpu-prof and similar output at exit), within a bound.
        if (child.exitCode === null && child.signalCode === null) {
          await Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
        }
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill();
      }
    },
  };
}

/**
 * One layout: `options.repeat` times, fresh clients (in fresh processes, unless shared) warmed up, then
 * their share of the interleaved rounds; the rounds of every repeat are pooled. Repeating with fresh
 * processes samples what a process's life decides once and keeps (how V8 settles its collector), which
 * one pair of processes would carry through the whole run.
 */
async function runOne(
  name: string,
  start: () => Promise<Runner[]>,
  options: BenchOptions,
  server: ServerProcess,
  endpoints: number,
  json: boolean,
): Promise<RunResult> {
  const delay = options.delay > 0 ? `, server delay ${options.delay} ms` : '';
  const where = options.sharedProcess ? 'all in one process' : 'each in its own process';
  const repeats = options.repeat > 1 ? `, ${options.repeat} repeats with fresh clients` : '';
  let runners = await start();
  const names = runners.map((r) => r.name);
  log(
    json,
    `\n== ${name}: ${runners.length} clients (${where}), ${options.requests} requests each, ${options.concurrency} in flight, ${options.rounds} interleaved rounds${repeats}${delay} ==`,
  );
  const tallies: Tally[] = runners.map(() => ({
    latencies: new Float64Array(options.requests),
    count: 0,
    errors: 0,
    firstError: undefined,
    elapsedMs: 0,
    cpuMicros: 0,
    serverCpuMicros: 0,
    connections: 0,
    roundRps: [],
    roundCount: [],
    roundMs: [],
    roundP99: [],
    gc: { scavenges: 0, markCompacts: 0, pauseUs: 0, promotedBytes: 0 },
  }));
  const perRound = Math.floor(options.requests / options.rounds);
  const roundsPerRepeat = Math.ceil(options.rounds / options.repeat);
  for (let r = 0; r < options.rounds; r++) {
    if (r > 0 && r % roundsPerRepeat === 0) {
      await Promise.all(runners.map((c) => c.close()));
      runners = await start();
    }
    if (r % roundsPerRepeat === 0) {
      // Warm-up: connections opened, names resolved, code optimised. Interleaved too.
      for (let i = 0; i < runners.length; i++) {
        const before = await server.usage();
        const warm = await runners[i]!.batch(options.warmup);
        if (warm.errors > 0) throw new Error(`${runners[i]!.name}: ${warm.errors} failed warm-up requests, first: ${warm.firstError}`);
        tallies[i]!.connections += (await server.usage()).acceptedConnections - before.acceptedConnections;
      }
    }
    const n = r === options.rounds - 1 ? options.requests - perRound * (options.rounds - 1) : perRound;
    // Interleaved: every client runs once per round. The first client rotates from round to round, so
    // no client always follows the same neighbour.
    for (let k = 0; k < runners.length; k++) {
      const i = (r + k) % runners.length;
      const t = tallies[i]!;
      const serverBefore = await server.usage();
      const b = await runners[i]!.batch(n);
      const serverAfter = await server.usage();
      t.latencies.set(b.latencies.subarray(0, b.count), t.count);
      t.count += b.count;
      t.errors += b.errors;
      t.firstError ??= b.firstError;
      t.elapsedMs += b.ms;
      t.cpuMicros += b.cpuMicros;
      t.serverCpuMicros += serverAfter.cpuMicros - serverBefore.cpuMicros;
      t.connections += serverAfter.acceptedConnections - serverBefore.acceptedConnections;
      t.roundRps.push((b.count / b.ms) * 1000);
      t.roundCount.push(b.count);
      t.roundMs.push(b.ms);
      t.roundP99.push(summarize(b.latencies.slice(0, b.count)).p99);
      t.gc.scavenges += b.gc.scavenges;
      t.gc.markCompacts += b.gc.markCompacts;
      t.gc.pauseUs += b.gc.pauseUsPerRequest * Math.max(1, b.count);
      t.gc.promotedBytes += b.gc.promotedBytesPerRequest * Math.max(1, b.count);
    }
    log(json, `  round ${r + 1}/${options.rounds}: ${runners.map((c, i) => `${c.name} ${Math.round(tallies[i]!.roundRps[r]!)}/s`).join(' | ')}`);
  }
  await Promise.all(runners.map((c) => c.close()));

  const rows = tallies.map((t, i) => {
    const lat: LatencySummary = summarize(t.latencies.subarray(0, t.count));
    if (t.errors > 0) log(json, `  ${names[i]}: ${t.errors} failed requests, first: ${String(t.firstError)}`);
    return {
      name: names[i]!,
      requests: t.count,
      errors: t.errors,
      rps: (t.count / t.elapsedMs) * 1000,
      lat,
      cpuUs: t.count > 0 ? t.cpuMicros / t.count : 0,
      clientCpuPercent: (t.cpuMicros / 1000 / t.elapsedMs) * 100,
      serverCpuPercent: (t.serverCpuMicros / 1000 / t.elapsedMs) * 100,
      connections: t.connections,
      roundRps: t.roundRps,
      tally: t,
    };
  });
  const base = rows[0]!;
  const results: ClientResult[] = rows.map((row) => ({
    name: row.name,
    requests: row.requests,
    errors: row.errors,
    rps: round(row.rps, 0),
    p50Ms: round(row.lat.p50, 3),
    p99Ms: round(row.lat.p99, 3),
    meanMs: round(row.lat.mean, 3),
    maxMs: round(row.lat.max, 3),
    cpuUsPerRequest: round(row.cpuUs, 1),
    clientCpuPercent: round(row.clientCpuPercent, 0),
    serverCpuPercent: round(row.serverCpuPercent, 0),
    connections: row.connections,
    throughputRatio: round(row.rps / base.rps, 3),
    medianRoundRatio: round(median(row.roundRps.map((v, r) => v / base.roundRps[r]!)), 3),
    cpuRatio: round(row.cpuUs / base.cpuUs, 3),
    p99Ratio: round(row.lat.p99 / base.lat.p99, 3),
    medianRoundP99Ratio: round(median(row.tally.roundP99.map((v, r) => v / base.tally.roundP99[r]!)), 3),
    throughputInterval: bootstrapRatio(row.tally, base.tally).map((v) => round(v, 3)) as [number, number],
    gc: {
      scavenges: row.tally.gc.scavenges,
      markCompacts: row.tally.gc.markCompacts,
      pauseUsPerRequest: round(row.tally.gc.pauseUs / Math.max(1, row.requests), 2),
      promotedBytesPerRequest: round(row.tally.gc.promotedBytes / Math.max(1, row.requests), 0),
    },
  }));
  const resilient = results.findIndex((r) => r.name === resilientName);
  /** ResilientAgent against the client named `other`, when both ran. */
  const versus = (other: string): ClientComparison | null => {
    const o = results.findIndex((r) => r.name === other);
    if (resilient < 0 || o < 0) return null;
    const [a, b] = [results[resilient]!, results[o]!];
    return {
      other,
      throughputRatio: round(a.rps / b.rps, 3),
      throughputInterval: bootstrapRatio(rows[resilient]!.tally, rows[o]!.tally).map((v) => round(v, 3)) as [number, number],
      p99Ratio: round(a.p99Ms / b.p99Ms, 3),
      cpuRatio: round(a.cpuUsPerRequest / b.cpuUsPerRequest, 3),
    };
  };
  return {
    name,
    endpoints,
    clients: results,
    target: resilient >= 0 ? targetOf(results[resilient]!, results[0]!) : null,
    versusPassThrough: versus(passThroughName),
    versusPrevious: versus(previousName()),
  };
}

function targetOf(r: ClientResult, raw: ClientResult): HotPathTarget {
  const throughputPass = r.throughputRatio >= throughputTarget;
  const p99Pass = r.p99Ratio <= p99Target;
  return {
    client: r.name,
    metric: 'throughputRatio',
    min: throughputTarget,
    value: r.throughputRatio,
    medianRoundRatio: r.medianRoundRatio,
    interval: r.throughputInterval,
    p99Max: p99Target,
    p99Ratio: r.p99Ratio,
    medianRoundP99Ratio: r.medianRoundP99Ratio,
    pass: throughputPass && p99Pass,
    throughputPass,
    p99Pass,
    collector: collectorStates(raw.gc.promotedBytesPerRequest, r.gc.promotedBytesPerRequest),
  };
}

/** `differ` when one client's process promoted more than twice the other's bytes per request. */
function collectorStates(a: number, b: number): 'alike' | 'differ' {
  return Math.max(a, b) > 2 * Math.max(1, Math.min(a, b)) ? 'differ' : 'alike';
}

/**
 * A 95 % interval for a client's pooled throughput ratio to the baseline: rounds are resampled with
 * replacement, each round keeping both clients' figures (they ran back to back, so they share the
 * machine's state then), and the pooled ratio is recomputed 2 000 times. A seeded generator keeps the
 * interval the same for the same figures.
 */
function bootstrapRatio(t: Tally, base: Tally): [number, number] {
  const rounds = t.roundCount.length;
  if (rounds < 2) return [0, 0];
  let seed = 0x9e3779b9;
  const next = (): number => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const ratios = new Float64Array(2000);
  for (let b = 0; b < ratios.length; b++) {
    let n = 0;
    let ms = 0;
    let bn = 0;
    let bms = 0;
    for (let i = 0; i < rounds; i++) {
      const r = Math.floor(next() * rounds);
      n += t.roundCount[r]!;
      ms += t.roundMs[r]!;
      bn += base.roundCount[r]!;
      bms += base.roundMs[r]!;
    }
    ratios[b] = n / ms / (bn / bms);
  }
  ratios.sort();
  return [ratios[Math.floor(0.025 * ratios.length)]!, ratios[Math.ceil(0.975 * ratios.length) - 1]!];
}

async function runMemory(options: BenchOptions, dns: string, port: number, warmHost: string): Promise<MemoryResult> {
  const child = forkTs('./memory.ts', ['--expose-gc']);
  try {
    const reply = nextMessage(child, (m): m is MemoryReply => typeof m === 'object' && m !== null && 'type' in m, 300_000);
    child.send({ type: 'run', dns, port, hosts: options.hosts, warmHost } satisfies MemoryRequest);
    const r = await reply;
    if (r.type === 'error') throw new Error(`memory benchmark failed: ${r.message}`);
    const agent = r.figures.find((f) => f.name === 'ResilientAgent');
    const raw = r.figures.find((f) => f.name === 'undici Agent');
    return {
      hosts: options.hosts,
      figures: r.figures,
      ridethroughOverheadPerEndpoint: agent && raw ? agent.heapBytesPerUnit - raw.heapBytesPerUnit : 0,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function undiciVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../node_modules/undici/package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function printRun(run: RunResult): void {
  // x raw: ratio to raw undici over the whole run; med rnd: median of the per-round ratios.
  const head = [
    'client',
    'req/s',
    'x raw',
    '95% interval',
    'med rnd',
    'p50 ms',
    'p99 ms',
    'p99 x raw',
    'p99 med rnd',
    'CPU us/req',
    'CPU x raw',
    'cli CPU',
    'srv CPU',
    'conns',
  ];
  const widths = [34, 8, 6, 13, 8, 8, 8, 10, 12, 11, 10, 8, 8, 6];
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i > 0)).join(' ');
  console.log(line(head));
  for (const c of run.clients) {
    console.log(
      line([
        c.name,
        String(c.rps),
        c.throughputRatio.toFixed(2),
        `${c.throughputInterval[0].toFixed(2)}–${c.throughputInterval[1].toFixed(2)}`,
        c.medianRoundRatio.toFixed(2),
        c.p50Ms.toFixed(2),
        c.p99Ms.toFixed(2),
        c.p99Ratio.toFixed(2),
        c.medianRoundP99Ratio.toFixed(2),
        c.cpuUsPerRequest.toFixed(1),
        c.cpuRatio.toFixed(2),
        `${c.clientCpuPercent}%`,
        `${c.serverCpuPercent}%`,
        String(c.connections),
      ]),
    );
  }
  for (const c of run.clients) {
    console.log(
      `  ${pad(c.name, 34)} GC: ${c.gc.scavenges} young, ${c.gc.markCompacts} full, ${c.gc.pauseUsPerRequest.toFixed(2)} µs pause and ${c.gc.promotedBytesPerRequest} B promoted per request`,
    );
  }
  const versus = (c: ClientComparison | null, why: string): void => {
    if (!c) return;
    const interval = `${c.throughputInterval[0].toFixed(3)}–${c.throughputInterval[1].toFixed(3)}`;
    console.log(
      `ResilientAgent x ${c.other} (${why}): throughput ${c.throughputRatio.toFixed(3)} (95% interval ${interval}), p99 ${c.p99Ratio.toFixed(3)}, CPU per request ${c.cpuRatio.toFixed(3)}`,
    );
  };
  versus(run.versusPassThrough, 'what its work costs beyond being a wrapper');
  versus(run.versusPrevious, 'whether this build kept the hot path');
  const t = run.target;
  if (!t) return;
  const verdict = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');
  console.log(
    `target: ${t.client} throughput >= ${t.min} x raw undici: ${t.value.toFixed(3)} (95% interval ${t.interval[0].toFixed(3)}–${t.interval[1].toFixed(3)}, median of the rounds ${t.medianRoundRatio.toFixed(3)}) -> ${verdict(t.throughputPass)}`,
  );
  console.log(
    `target: ${t.client} p99 <= ${t.p99Max} x raw undici: ${t.p99Ratio.toFixed(3)} (median of the rounds ${t.medianRoundP99Ratio.toFixed(3)}) -> ${verdict(t.p99Pass)}   (informational: the exit code does not depend on it)`,
  );
  if (t.collector === 'differ') {
    console.log(
      'note: the two processes settled in different collector states (bytes promoted per request above): the ratios include that V8 state, not only ridethrough (docs/benchmarks.md, "The heavy state found")',
    );
  }
}

function printMemory(m: MemoryResult): void {
  console.log(`\n== memory: ${m.hosts} hosts ==`);
  for (const f of m.figures) {
    console.log(
      `${pad(f.name, 16)} ${pad(String(f.heapBytesPerUnit), 8, true)} heap bytes per ${f.unit}   ${pad(String(f.externalBytesPerUnit), 6, true)} external bytes per ${f.unit}`,
    );
  }
  console.log(`ridethrough's own heap cost per endpoint (ResilientAgent minus raw undici): ${m.ridethroughOverheadPerEndpoint} bytes`);
}

/** Parses the command line. */
function parseOptions(argv: string[]): { options: BenchOptions; json: boolean; skipMemory: boolean; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      endpoints: { type: 'string' },
      hosts: { type: 'string' },
      delay: { type: 'string' },
      clients: { type: 'string' },
      'agent-options': { type: 'string' },
      'shared-process': { type: 'boolean', default: false },
      repeat: { type: 'string' },
      'skip-memory': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const quick = values.quick;
  const int = (name: keyof typeof values, fallback: number, min: number, max: number): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name} must be an integer ${min}–${max}, got ${String(raw)}`);
    return n;
  };
  const requests = int('requests', quick ? 600 : 30_000, 1, 10_000_000);
  const options: BenchOptions = {
    requests,
    concurrency: int('concurrency', quick ? 8 : 32, 1, 10_000),
    rounds: int('rounds', quick ? 2 : 20, 1, requests),
    warmup: int('warmup', quick ? 100 : Math.min(3_000, Math.ceil(requests / 10)), 0, 10_000_000),
    endpoints: int('endpoints', 8, 2, 50),
    hosts: values['skip-memory'] ? 0 : int('hosts', quick ? 40 : 1_000, 1, maxMemoryHosts - 1),
    delay: int('delay', 0, 0, 10_000),
    clients: parseClients(values.clients),
    agentOptions: values['agent-options'] === undefined ? {} : (JSON.parse(values['agent-options']) as Record<string, unknown>),
    sharedProcess: values['shared-process'],
    repeat: 1,
  };
  options.repeat = int('repeat', 1, 1, options.rounds);
  return { options, json: values.json, skipMemory: values['skip-memory'], help: values.help };
}

/** The clients of a layout, in report order (BalancedPool only with several endpoints). */
function makeClientIds(only: readonly ClientId[], endpoints: number): ClientId[] {
  return only.filter((id) => id !== 'balanced' || endpoints > 1);
}

/** `--clients a,b`: known ids only; raw undici (the baseline) is always included. */
function parseClients(raw: string | undefined): ClientId[] {
  if (raw === undefined) return clientIds.filter((id) => id !== 'previous');
  const ids = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of ids) {
    if (!(clientIds as readonly string[]).includes(id)) throw new RangeError(`--clients takes a comma-separated list of ${clientIds.join(', ')}; got ${id}`);
  }
  if (ids.includes('previous') && process.env.BENCH_PREVIOUS === undefined) {
    throw new RangeError('--clients previous needs BENCH_PREVIOUS=<dist/index.js of the earlier build> (scripts/bench-build.sh COMMIT prints it)');
  }
  return clientIds.filter((id) => id === 'raw' || ids.includes(id));
}

const usage = `Usage: npm run bench -- [options]
  --requests N      measured requests per client per run (default 30000; --quick 600)
  --concurrency N   requests in flight per client (default 32; --quick 8)
  --rounds N        interleaved rounds (default 20; --quick 2)
  --warmup N        warm-up requests per client per run (default min(3000, requests/10); --quick 100)
  --endpoints N     endpoints behind one name in the second run (default 8)
  --hosts N         hosts for the memory benchmark (default 1000; --quick 40)
  --delay MS        the server answers each request after MS ms (default 0: the CPU-bound hot path;
                    with a delay, throughput is bound by latency, as with a real service behind)
  --clients LIST    only these clients (comma-separated: ${clientIds.join(', ')}; raw always runs;
                    previous, ResilientAgent of the build BENCH_PREVIOUS names, only when listed)
  --agent-options JSON  extra ResilientAgent options, e.g. '{"breaker":false}' (what a mechanism costs)
  --shared-process  all clients in this one process, sharing undici's code (default: one process each)
  --repeat N        fresh clients (fresh processes) N times per layout, the rounds split between them (default 1)
  --skip-memory     skip the memory benchmark
  --quick           small counts, for tests
  --json            print one JSON report on stdout (progress on stderr)`;

async function main(): Promise<void> {
  const { options, json, help } = parseOptions(process.argv.slice(2));
  if (help) {
    console.log(usage);
    return;
  }
  const meta: BenchReport['meta'] = {
    node: process.version,
    build: subjectBuild,
    undici: undiciVersion(),
    cpu: cpuModel(),
    cores: os.cpus().length,
    date: new Date().toISOString(),
    loadAverageBefore: os.loadavg().map((l) => round(l, 2)),
    loadAverageAfter: [],
    options,
  };
  log(
    json,
    `ridethrough hot-path benchmark — ridethrough from ${meta.build}, Node ${meta.node}, undici ${meta.undici}, ${meta.cpu} x ${meta.cores}, load ${meta.loadAverageBefore.join(' ')}`,
  );
  if (!exposedGc) log(json, 'note: node was started without --expose-gc (npm run bench passes it): the flag was set at run time');

  const hot = hotAddresses(options.endpoints);
  const memAddrs = Array.from({ length: options.hosts > 0 ? options.hosts + 1 : 0 }, (_, i) => memoryAddress(i));
  const dnsServer = new DnsServer({ address: dnsAddress, port: 0 });
  let server: ServerProcess | undefined;
  const open: Runner[] = [];
  try {
    await dnsServer.start();
    const dns = dnsServer.server;
    dnsServer.setRecords('hot.bench.test', { a: hot.slice(0, 1), ttl: 5 });
    dnsServer.setRecords('pool.bench.test', { a: hot, ttl: 5 });
    for (let i = 0; i < options.hosts; i++) dnsServer.setRecords(memoryHost(i), { a: [memoryAddress(i)], ttl: 300 });
    server = await ServerProcess.start([...hot, ...memAddrs], options.delay);
    const port = server.port;

    const runs: RunResult[] = [];
    const layouts = [
      { name: '1 endpoint', addresses: hot.slice(0, 1), host: 'hot.bench.test' },
      { name: `${options.endpoints} endpoints behind one name`, addresses: hot, host: 'pool.bench.test' },
    ];
    for (const layout of layouts) {
      const clientLayout: ClientLayout = {
        addresses: layout.addresses,
        host: layout.host,
        port,
        dns,
        concurrency: options.concurrency,
        agentOptions: options.agentOptions,
      };
      // The same clients in the same order either way (a BalancedPool only where there are several endpoints).
      const ids = makeClientIds(options.clients, layout.addresses.length);
      const start = async (): Promise<Runner[]> => {
        open.length = 0;
        if (options.sharedProcess) {
          for (const c of makeClients(clientLayout, ids)) open.push(inProcess(c, options.concurrency));
        } else {
          for (const id of ids) open.push(await inWorker(id, clientLayout, options.concurrency));
        }
        return [...open];
      };
      const run = await runOne(layout.name, start, options, server, layout.addresses.length, json);
      open.length = 0;
      runs.push(run);
      if (!json) printRun(run);
    }

    let memory: MemoryResult | null = null;
    if (options.hosts > 0) {
      log(json, `\n== memory: ${options.hosts} hosts (child process with --expose-gc) ==`);
      memory = await runMemory(options, dns, port, 'hot.bench.test');
      if (!json) printMemory(memory);
    }
    meta.loadAverageAfter = os.loadavg().map((l) => round(l, 2));
    const report: BenchReport = { meta, runs, memory };
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else console.log(`\nload average before ${meta.loadAverageBefore.join(' ')}, after ${meta.loadAverageAfter.join(' ')}`);
  } finally {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await server?.stop();
    await dnsServer.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
