/**
 * The clients the hot-path benchmark compares, and one batch of requests through one of them. Shared by
 * bench/hot-path.ts (clients in its own process with `--shared-process`) and bench/client-worker.ts (each
 * client in a process of its own, the default).
 *
 * @module
 */
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import got from 'got';
import { Agent, BalancedPool, Dispatcher, interceptors, request } from 'undici';
import { type GcSummary, interceptorLookup, netLookup, startGcProfile } from './lib.js';
import { ResilientAgent } from './subject.js';

/** Client ids for `--clients`. */
export const clientIds = ['raw', 'resilient', 'previous', 'passthrough', 'interceptors', 'balanced', 'got'] as const;
/** One client id. */
export type ClientId = (typeof clientIds)[number];

/** The baseline's name in reports. */
export const baselineName = 'undici Agent (raw)';
/** ridethrough's name in reports. */
export const resilientName = 'ResilientAgent';
/**
 * The name in reports of `previous`: ResilientAgent of another build (`BENCH_PREVIOUS`, which
 * scripts/bench-build.sh prints), run in its own process beside this build's, so that one run says
 * whether a change kept the hot path where an earlier release had it.
 */
export function previousName(path: string | undefined = process.env.BENCH_PREVIOUS): string {
  const commit = path === undefined ? undefined : /ridethrough-bench-([0-9a-f]+)/.exec(path)?.[1];
  return `ResilientAgent (${commit ?? 'previous build'})`;
}
/** The pass-through dispatcher's name in reports. */
export const passThroughName = 'undici Agent + pass-through handler';

/** A handler that passes every callback on to the caller's: what any dispatcher that wraps handlers adds, and nothing else. */
class ForwardingHandler implements Dispatcher.DispatchHandler {
  constructor(private readonly next: Dispatcher.DispatchHandler) {}
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.next.onRequestStart?.(controller, context);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    this.next.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.next.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.next.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.next.onResponseError?.(controller, error);
  }
}

/**
 * An undici `Agent` behind a dispatcher whose only work is to wrap each request's handler in a
 * {@link ForwardingHandler}: the floor for any resilience layer in front of undici (ridethrough's, or
 * undici's own interceptors), so a run shows what being a wrapper costs apart from what a wrapper does.
 */
export class PassThroughDispatcher extends Dispatcher {
  private readonly agent = new Agent();
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agent.dispatch(options, new ForwardingHandler(handler));
  }
  override close(): Promise<void> {
    return this.agent.close();
  }
}

/** One client under test. */
export interface Client {
  readonly id: ClientId;
  readonly name: string;
  send(): Promise<void>;
  close(): Promise<void>;
}

/** Where the clients send: the server's addresses, the name they resolve to, the lab DNS server. */
export interface ClientLayout {
  addresses: string[];
  host: string;
  port: number;
  dns: string;
  concurrency: number;
  agentOptions: Record<string, unknown>;
}

/**
 * A young-generation collection, run before every batch so that no client pays for the short-lived
 * garbage another left behind. Not a full collection: after a mark-compact V8 shrinks the young
 * generation, and every client then runs about half as fast until it has grown back (measured: raw undici
 * 7–10k req/s after full collections against 13–15k after young-generation ones), which mostly measures
 * the collector. `npm run bench` starts node with `--expose-gc`; without it the flag is set at run time.
 */
export const exposedGc = (globalThis as { gc?: GcFunction }).gc;
type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;
const gc: GcFunction =
  exposedGc ??
  (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as GcFunction;
  })();
/** Collects the young generation (see {@link exposedGc}). */
export const collectGarbage = (): void => gc({ type: 'minor' });

/** One request as every client sends it: a GET whose body is read as text, and a 200 expected. */
export async function get(url: string, dispatcher: Dispatcher): Promise<void> {
  const { statusCode, body } = await request(url, { dispatcher });
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`);
}

/** Makes the clients `only` names (raw undici, the baseline, always). */
export function makeClients(layout: ClientLayout, only: readonly ClientId[]): Client[] {
  const { addresses, host, port, dns } = layout;
  const ipUrls = addresses.map((a) => `http://${a}:${port}/`);
  const nameUrl = `http://${host}:${port}/`;
  const clients: Client[] = [];

  /** A client that round-robins over the IP origins, as raw undici does (no DNS at all). */
  const onIpOrigins = (id: ClientId, name: string, dispatcher: Agent | PassThroughDispatcher): Client => {
    let turn = 0;
    return { id, name, send: () => get(ipUrls[turn++ % ipUrls.length]!, dispatcher), close: () => dispatcher.close() };
  };

  if (only.includes('raw')) clients.push(onIpOrigins('raw', baselineName, new Agent()));
  /** ResilientAgent of the build under test, with the agent options of the run, on the host name. */
  const onName = (id: ClientId, name: string): Client => {
    const own = layout.agentOptions as { dns?: Record<string, unknown> };
    const agent = new ResilientAgent({ ...own, dns: { ...own.dns, servers: [dns], search: [] } });
    return { id, name, send: () => get(nameUrl, agent), close: () => agent.close() };
  };
  if (only.includes('resilient')) clients.push(onName('resilient', resilientName));
  if (only.includes('previous')) {
    // Its process imports the previous build as the build under test (bench/hot-path.ts sets BENCH_SUBJECT there).
    if (process.env.BENCH_PREVIOUS === undefined || process.env.BENCH_SUBJECT !== process.env.BENCH_PREVIOUS) {
      throw new Error('--clients previous: the previous build runs in a process of its own, with BENCH_SUBJECT=$BENCH_PREVIOUS (not with --shared-process)');
    }
    clients.push(onName('previous', previousName()));
  }
  if (only.includes('passthrough')) clients.push(onIpOrigins('passthrough', passThroughName, new PassThroughDispatcher()));
  if (only.includes('interceptors')) {
    const base = new Agent();
    const composed = base.compose(interceptors.dns({ lookup: interceptorLookup(dns) }), interceptors.retry());
    clients.push({ id: 'interceptors', name: 'undici + dns + retry interceptors', send: () => get(nameUrl, composed), close: () => base.close() });
  }
  if (addresses.length > 1 && only.includes('balanced')) {
    const pool = new BalancedPool(ipUrls);
    clients.push({ id: 'balanced', name: 'undici BalancedPool (raw)', send: () => get(ipUrls[0]!, pool), close: () => pool.close() });
  }
  if (only.includes('got')) {
    const httpAgent = new http.Agent({ keepAlive: true, maxSockets: layout.concurrency });
    const client = got.extend({ agent: { http: httpAgent }, dnsLookup: netLookup(dns) });
    clients.push({
      id: 'got',
      name: 'got',
      send: async () => {
        const res = await client(nameUrl);
        if (res.statusCode !== 200) throw new Error(`unexpected status ${res.statusCode}`);
      },
      close: async () => httpAgent.destroy(),
    });
  }
  return clients;
}

/** One batch's figures. */
export interface BatchResult {
  /** Requests that succeeded; their latencies (ms) are the first `count` entries of `latencies`. */
  count: number;
  errors: number;
  firstError: string | undefined;
  /** Wall time, ms. */
  ms: number;
  /** Client process CPU time (user + system), µs. */
  cpuMicros: number;
  latencies: Float64Array;
  /** What the collector did during the batch (the forced young-generation collection before it not counted). */
  gc: GcSummary;
}

/**
 * Sends `n` requests with `concurrency` in flight through `client`; records each success's latency.
 * @param collectFirst - a young-generation collection first: for clients that share this process, so none
 *   pays for the garbage another left behind. A client alone in its process runs without it: the forced
 *   collection would line the collector's rhythm up with the batches, and a client whose batch just fills
 *   the young generation would then collect once per batch while one allocating a little less would not
 *   collect at all, a step where the real cost is proportional.
 */
export async function runBatch(client: Client, n: number, concurrency: number, collectFirst: boolean): Promise<BatchResult> {
  const latencies = new Float64Array(n);
  let count = 0;
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  if (collectFirst) collectGarbage();
  const gcProfile = startGcProfile();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < n) {
      issued++;
      const t0 = performance.now();
      try {
        await client.send();
        latencies[count++] = performance.now() - t0;
      } catch (err) {
        errors++;
        firstError ??= String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  const gc = gcProfile.stop(Math.max(1, count));
  return { count, errors, firstError, ms, cpuMicros: cpu.user + cpu.system, latencies, gc };
}
