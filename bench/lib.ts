/**
 * Shared pieces of the benchmarks: child processes, the lab-DNS lookups handed to undici's DNS
 * interceptor and to got, address layout, and latency statistics.
 *
 * Every name resolves through the lab {@link DnsServer} on loopback, never through the OS resolver.
 *
 * @module
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { Resolver } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import type { ServerReply, ServerRequest } from './server.js';

/** The loopback address of the lab DNS server. */
export const dnsAddress = '127.0.80.53';

/** The `count` hot-path endpoint addresses: 127.0.80.1 … 127.0.80.count (count ≤ 50). */
export function hotAddresses(count: number): string[] {
  if (count < 1 || count > 50) throw new RangeError('endpoint count must be 1–50');
  return Array.from({ length: count }, (_, i) => `127.0.80.${i + 1}`);
}

/** Most hosts the memory benchmark can give a distinct address: 127.0.82.1 … 127.0.89.250. */
export const maxMemoryHosts = 8 * 250;

/** The address of memory-benchmark host `i`: 127.0.82.1, …, 127.0.82.250, 127.0.83.1, … */
export function memoryAddress(i: number): string {
  if (i < 0 || i >= maxMemoryHosts) throw new RangeError(`memory host index must be 0–${maxMemoryHosts - 1}`);
  return `127.0.${82 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** The DNS name of memory-benchmark host `i`. */
export function memoryHost(i: number): string {
  return `m${i}.mem.bench.test`;
}

/**
 * Forks a TypeScript module of this folder in a new Node process with the tsx loader
 * (the `--require`/`--import` flags this process was started with), plus `extraExecArgv`, with `env`.
 */
export function forkTs(file: string, extraExecArgv: string[] = [], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const loader = process.execArgv.filter((a, i, all) => a.includes('tsx') || (i + 1 < all.length && all[i + 1]!.includes('tsx')));
  const execArgv = loader.length > 0 ? loader : ['--import', import.meta.resolve('tsx/esm')];
  return fork(path, [], { execArgv: [...execArgv, ...extraExecArgv], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Waits for the next IPC message of `child` that satisfies `accept`. */
export function nextMessage<T>(child: ChildProcess, accept: (msg: unknown) => msg is T, timeoutMs = 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no reply from child process ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg: unknown): void => {
      if (accept(msg)) finish(undefined, msg);
    };
    const onExit = (code: number | null): void => finish(new Error(`child process ${child.pid} exited (code ${code}) before replying`));
    function finish(err: Error | undefined, msg?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(msg as T);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** The benchmark HTTP server running in a child process. */
export class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** The port every address listens on. */
    readonly port: number,
  ) {}

  /** Forks the server and waits until it listens on every address (one shared port); it answers after `delayMs`. */
  static async start(addresses: string[], delayMs = 0): Promise<ServerProcess> {
    const child = forkTs('./server.ts');
    try {
      const reply = nextMessage(child, (m): m is ServerReply => isReply(m) && (m.type === 'listening' || m.type === 'error'));
      child.send({ type: 'listen', addresses, delayMs } satisfies ServerRequest);
      const r = await reply;
      if (r.type !== 'listening') throw new Error(`benchmark server failed to listen: ${r.type === 'error' ? r.message : r.type}`);
      return new ServerProcess(child, r.port);
    } catch (err) {
      child.kill();
      throw err;
    }
  }

  /** CPU time (user + system, µs) the server process has used so far, and its connection counts. */
  async usage(): Promise<{ cpuMicros: number; openConnections: number; acceptedConnections: number }> {
    const reply = nextMessage(this.child, (m): m is Extract<ServerReply, { type: 'cpu' }> => isReply(m) && m.type === 'cpu');
    this.child.send({ type: 'cpu' } satisfies ServerRequest);
    const r = await reply;
    return { cpuMicros: r.micros, openConnections: r.openConnections, acceptedConnections: r.acceptedConnections };
  }

  /** Starts one more server on `address` (the same port): a pod starting. */
  async add(address: string): Promise<void> {
    const reply = nextMessage(this.child, (m): m is ServerReply => isReply(m) && ((m.type === 'added' && m.address === address) || m.type === 'error'));
    this.child.send({ type: 'add', address, port: this.port } satisfies ServerRequest);
    const r = await reply;
    if (r.type === 'error') throw new Error(`benchmark server could not listen on ${address}: ${r.message}`);
  }

  /** Stops the server on `address` and resets its connections: a pod killed. */
  async remove(address: string): Promise<void> {
    const reply = nextMessage(this.child, (m): m is ServerReply => isReply(m) && m.type === 'removed' && m.address === address);
    this.child.send({ type: 'remove', address } satisfies ServerRequest);
    await reply;
  }

  /** Stops the server process (kills it if it does not exit within 5 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    if (this.child.connected) this.child.send({ type: 'close' } satisfies ServerRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

function isReply(m: unknown): m is ServerReply {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

/** A record in the shape undici's DNS interceptor wants (TTL in milliseconds). */
export interface InterceptorRecord {
  address: string;
  family: 4 | 6;
  ttl: number;
}

/** A c-ares resolver that only ever talks to the lab DNS server. */
export function labResolver(server: string): Resolver {
  const r = new Resolver({ timeout: 500, tries: 2 });
  r.setServers([server]);
  return r;
}

/**
 * A `lookup` for `interceptors.dns()`: queries A records from the lab DNS server and hands undici the
 * records with their TTLs in milliseconds (undici caches them itself).
 */
export function interceptorLookup(
  server: string,
): (origin: URL, options: unknown, cb: (err: NodeJS.ErrnoException | null, addresses: InterceptorRecord[]) => void) => void {
  const resolver = labResolver(server);
  return (origin, _options, cb) => {
    resolver.resolve4(origin.hostname, { ttl: true }).then(
      (records) =>
        cb(
          null,
          records.map((r) => ({ address: r.address, family: 4 as const, ttl: r.ttl * 1000 })),
        ),
      (err: NodeJS.ErrnoException) => cb(err, []),
    );
  };
}

/** The callback of a `net.LookupFunction`, for both the single and the `all: true` forms. */
type NetLookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `net`-style lookup (for got's `dnsLookup`, i.e. Node's `http.Agent`) over the lab DNS server.
 * Successive calls rotate the answer, so new connections spread over every address.
 */
export function netLookup(server: string): (hostname: string, options: LookupOptions, cb: NetLookupCallback) => void {
  const resolver = labResolver(server);
  let turn = 0;
  return (hostname, options, cb) => {
    resolver.resolve4(hostname).then(
      (list) => {
        if (list.length === 0) {
          cb(Object.assign(new Error(`no A records for ${hostname}`), { code: 'ENODATA' }), options.all ? [] : '', 4);
          return;
        }
        const start = turn++ % list.length;
        const rotated = [...list.slice(start), ...list.slice(0, start)];
        if (options.all)
          cb(
            null,
            rotated.map((address) => ({ address, family: 4 })),
          );
        else cb(null, rotated[0]!, 4);
      },
      (err: NodeJS.ErrnoException) => cb(err, options.all ? [] : '', 4),
    );
  };
}

/** Latency percentiles (milliseconds) of a sample. */
export interface LatencySummary {
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** Arithmetic mean. */
  mean: number;
  /** Largest sample. */
  max: number;
}

/** Summarises latency samples (nearest-rank percentiles). Sorts `samples` in place. */
export function summarize(samples: Float64Array): LatencySummary {
  if (samples.length === 0) return { p50: 0, p99: 0, mean: 0, max: 0 };
  samples.sort();
  const rank = (p: number): number => samples[Math.min(samples.length - 1, Math.max(0, Math.ceil((p / 100) * samples.length) - 1))]!;
  let sum = 0;
  for (const v of samples) sum += v;
  return { p50: rank(50), p99: rank(99), mean: sum / samples.length, max: samples[samples.length - 1]! };
}

/** The median of a list of numbers (0 for an empty list). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Collects (`global.gc()`, so node must run with `--expose-gc`) until the heap stops shrinking by more
 * than `slackBytes`, at most `rounds` times, and returns `process.memoryUsage()` then.
 * @param what - the script, for the error when `--expose-gc` is missing
 */
export async function collectedMemory(what: string, rounds = 10, slackBytes = 1024): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error(`${what} needs --expose-gc`);
  let last = Infinity;
  for (let i = 0; i < rounds; i++) {
    gc();
    await tick();
    const used = process.memoryUsage().heapUsed;
    if (used >= last - slackBytes) break;
    last = used;
  }
  return process.memoryUsage();
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The clients bench/profile.ts can run alone (`--client`). */
export const profileClients = ['raw', 'pool', 'passthrough', 'resilient', 'interceptors'] as const;

/**
 * Parses a `--clients` list of {@link profileClients}; raw undici, the baseline every ratio is
 * relative to, is put first when missing. Throws a RangeError naming the bad entry.
 */
export function parseProfileClients(text: string): string[] {
  const clients = text.split(',').map((c) => c.trim());
  for (const c of clients) {
    if (!(profileClients as readonly string[]).includes(c)) throw new RangeError(`--clients: each must be one of ${profileClients.join(', ')}; got ${c}`);
  }
  if (!clients.includes('raw')) clients.unshift('raw');
  return clients;
}

/** Parses the value of a count option (`--name`): a positive integer, or a RangeError naming it. */
export function positiveOption(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer; got ${text}`);
  return n;
}

/**
 * Runs `command args` to its end and returns the JSON of the last line it printed (bench/profile.ts
 * with `--json`). Rejects with what it printed on stderr when it fails; `what` names the run.
 */
export function runForJsonLine<T>(what: string, command: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${what} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
    });
  });
}

/** What the collector did during the measured requests (from `v8.GCProfiler`). */
export interface GcSummary {
  /** Young-generation collections. */
  scavenges: number;
  /** Full collections (mark-compact). */
  markCompacts: number;
  /** Main-thread collector pause per request, µs. */
  pauseUsPerRequest: number;
  /**
   * Bytes per request that young-generation collections moved to the old generation. Objects that
   * outlive a request reach it only when something old still points at them, so a client whose
   * requests leave nothing behind promotes close to nothing; every promoted byte waits for a full
   * collection, and its marking runs on the collector's helper threads.
   */
  promotedBytesPerRequest: number;
}

/** One collection as `v8.GCProfiler` reports it (`cost` in µs). */
type GcStatistic = { gcType: string; cost: number; beforeGC: { heapSpaceStatistics: GcSpace[] }; afterGC: { heapSpaceStatistics: GcSpace[] } };
type GcSpace = { spaceName: string; spaceUsedSize: number };

/** Bytes in the old generation (old space and large objects) in one heap-space snapshot. */
function oldBytes(spaces: GcSpace[]): number {
  let sum = 0;
  for (const s of spaces) if (s.spaceName === 'old_space' || s.spaceName === 'large_object_space') sum += s.spaceUsedSize;
  return sum;
}

/** Sums `v8.GCProfiler` statistics over `n` requests. */
function summarizeGc(statistics: GcStatistic[], n: number): GcSummary {
  let scavenges = 0;
  let markCompacts = 0;
  let pauseUs = 0;
  let promoted = 0;
  for (const s of statistics) {
    pauseUs += s.cost;
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkSweep') {
      scavenges++;
      promoted += Math.max(0, oldBytes(s.afterGC.heapSpaceStatistics) - oldBytes(s.beforeGC.heapSpaceStatistics));
    } else if (s.gcType === 'MarkSweepCompact') markCompacts++;
  }
  return { scavenges, markCompacts, pauseUsPerRequest: pauseUs / n, promotedBytesPerRequest: promoted / n };
}

/** Starts recording every collection (`v8.GCProfiler`); `stop(n)` sums them over `n` requests. */
export function startGcProfile(): { stop(requests: number): GcSummary } {
  const profiler = new v8.GCProfiler();
  profiler.start();
  return { stop: (requests) => summarizeGc((profiler.stop() as unknown as { statistics: GcStatistic[] }).statistics, requests) };
}

/** One line for a {@link GcSummary}: `GC: 3 scavenges, 0 full, 0.28 µs pause and 54 B promoted per request`. */
export function describeGc(gc: GcSummary): string {
  return `GC: ${gc.scavenges} scavenges, ${gc.markCompacts} full, ${gc.pauseUsPerRequest.toFixed(2)} µs pause and ${Math.round(gc.promotedBytesPerRequest)} B promoted per request`;
}

/** The command line that runs bench/profile.ts for one client, printing one JSON line (node's own flags go before it). */
export function profileArgs(client: string, requests: number, warmup: number, endpoints: number): string[] {
  const profile = fileURLToPath(new URL('./profile.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx/esm');
  return ['--import', tsx, profile, '--client', client, '--requests', String(requests), '--warmup', String(warmup), '--endpoints', String(endpoints), '--json'];
}
