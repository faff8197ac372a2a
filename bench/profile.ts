/**
 * Runs one client of the hot-path benchmark alone, for profiling:
 *
 * ```sh
 * ./node_modules/.bin/node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts --client resilient --requests 100000
 * ```
 *
 * `--client raw|pool|passthrough|resilient|interceptors` (default resilient), `--requests N` (default 50000),
 * `--warmup N` (default 5000), `--first CLIENT` (run another client first, in this process),
 * `--alloc-profile FILE` (write a sampled profile of every allocation made by the measured requests,
 * collected ones included, to FILE: a `.heapprofile` for Chrome DevTools; with `--alloc-survivors`, only
 * the allocations that outlived a young-generation collection: what the old generation pays for),
 * `--json` (print one JSON line, {@link ProfileResult}: used by bench/isolated.ts),
 * `--callgrind` (after the warm-up, dump the cost of callgrind's control calls alone as part 1, then the
 * measured requests as part 2: used by bench/instructions.ts, which runs this file under valgrind),
 * `--concurrency N` (default 32), `--endpoints N` (default 1), `--agent-options JSON` (extra
 * ResilientAgent options, e.g. `'{"maxConnectionAge":0}'`). Prints requests per second and client
 * CPU per request, and what the collector did meanwhile (scavenges, full collections, pause and bytes
 * promoted per request, from `v8.GCProfiler`). The server runs in a child process (bench/server.ts),
 * names resolve through the lab DNS server.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher, interceptors, Pool, request } from 'undici';
import { ResilientAgent } from './subject.js';
import { PassThroughDispatcher } from './clients.js';
import type { ResilienceOptions } from '../src/core/options.js';
import { DnsServer } from '@ridethrough/testbed';
import { dnsAddress, describeGc, type GcSummary, hotAddresses, interceptorLookup, ServerProcess, startGcProfile } from './lib.js';

const { values } = parseArgs({
  options: {
    client: { type: 'string', default: 'resilient' },
    requests: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '32' },
    endpoints: { type: 'string', default: '1' },
    'agent-options': { type: 'string', default: '{}' },
    first: { type: 'string' },
    callgrind: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
    'alloc-profile': { type: 'string' },
    'alloc-survivors': { type: 'boolean', default: false },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const endpoints = Number(values.endpoints);

async function get(url: string, dispatcher: Dispatcher): Promise<void> {
  const { statusCode, body } = await request(url, { dispatcher });
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`);
}

/** What `--json` prints: one line. */
export interface ProfileResult {
  /** The client measured. */
  client: string;
  /** Requests per second over the measured requests. */
  rps: number;
  /** Process CPU time (user + system, every thread) per measured request, µs. */
  cpuUsPerRequest: number;
  /** Connections the server accepted from the client (warm-up included). */
  connections: number;
  /** Garbage collection during the measured requests. */
  gc: GcSummary;
}

/**
 * Samples every allocation of the measured requests, the collected ones too (V8's sampling heap
 * profiler through the inspector; one sample per 128 bytes on average). `stop()` returns the profile:
 * a `.heapprofile` (Chrome DevTools' Memory tab opens it), each node's self size summed is bytes
 * allocated by that function.
 */
async function startAllocationSampling(survivorsOnly: boolean): Promise<{ stop(): Promise<unknown> }> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 128,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !survivorsOnly,
  });
  return {
    async stop() {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      session.disconnect();
      return profile;
    },
  };
}

/**
 * Runs `callgrind_control <command>` on this process (which then runs under valgrind's callgrind) and
 * blocks until it is done: valgrind's gdbserver takes the command while this process waits in a system
 * call, so no instruction of ours runs meanwhile except those of the call itself, which cost the same
 * every time (bench/instructions.ts subtracts them).
 */
function callgrindControl(command: '--zero' | '--dump'): void {
  execFileSync('callgrind_control', [command, String(process.pid)], { stdio: 'ignore' });
}

async function drive(send: () => Promise<void>, n: number): Promise<number> {
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < n) {
        issued++;
        await send();
      }
    }),
  );
  return performance.now() - t0;
}

const dnsServer = new DnsServer({ address: dnsAddress, port: 0 });
await dnsServer.start();
const addresses = hotAddresses(endpoints);
dnsServer.setRecords('hot.bench.test', { a: addresses, ttl: 5 });
const server = await ServerProcess.start(addresses);
/**
 * One client: its dispatcher, the URL of its next request, and how to close it. Raw undici round-robins
 * over the IP origins, as in bench/hot-path.ts, so it uses every endpoint as the name-based clients do;
 * `pool` is one `Pool` on the first address.
 */
function makeClient(name: string): { dispatcher: Dispatcher; url: () => string; close: () => Promise<void> } {
  const ipUrls = addresses.map((a) => `http://${a}:${server.port}/`);
  const ipUrl = ipUrls[0]!;
  let turn = 0;
  const nextIpUrl = (): string => ipUrls[turn++ % ipUrls.length]!;
  const nameUrl = `http://hot.bench.test:${server.port}/`;
  const fixed = (u: string) => (): string => u;
  if (name === 'raw') {
    const a = new Agent();
    return { dispatcher: a, url: nextIpUrl, close: () => a.close() };
  }
  if (name === 'pool') {
    // The floor: undici's Pool on the IP origin, no Agent in front.
    const a = new Pool(ipUrl.slice(0, -1));
    return { dispatcher: a, url: fixed(ipUrl), close: () => a.close() };
  }
  if (name === 'passthrough') {
    // The floor for any dispatcher that wraps handlers: raw undici behind a handler that passes everything on.
    const a = new PassThroughDispatcher();
    return { dispatcher: a, url: nextIpUrl, close: () => a.close() };
  }
  if (name === 'interceptors') {
    const a = new Agent();
    return {
      dispatcher: a.compose(interceptors.dns({ lookup: interceptorLookup(dnsServer.server) }), interceptors.retry()),
      url: fixed(nameUrl),
      close: () => a.close(),
    };
  }
  if (name !== 'resilient') throw new RangeError(`--client must be raw, pool, passthrough, interceptors or resilient; got ${name}`);
  const extra = JSON.parse(values['agent-options']) as ResilienceOptions;
  const a = new ResilientAgent({ ...extra, dns: { servers: [dnsServer.server], search: [], ...extra.dns } });
  return { dispatcher: a, url: fixed(nameUrl), close: () => a.close() };
}

const { dispatcher, url, close: closeIt } = makeClient(values.client);
if (values.first) {
  // Another client first, in this process: shows what sharing undici's code with it costs.
  const other = makeClient(values.first);
  await drive(() => get(other.url(), other.dispatcher), requests);
  await other.close();
}
try {
  await drive(() => get(url(), dispatcher), Number(values.warmup));
  if (values.callgrind) {
    // Part 1 of the dump: the control calls alone (bench/instructions.ts subtracts it from part 2).
    callgrindControl('--zero');
    callgrindControl('--dump');
    callgrindControl('--zero');
  }
  const allocations = values['alloc-profile'] ? await startAllocationSampling(values['alloc-survivors']) : undefined;
  const gcProfile = startGcProfile();
  const cpu0 = process.cpuUsage();
  const ms = await drive(() => get(url(), dispatcher), requests);
  const cpu = process.cpuUsage(cpu0);
  const gc = gcProfile.stop(requests);
  if (values.callgrind) callgrindControl('--dump'); // part 2: the measured requests
  if (allocations) writeFileSync(values['alloc-profile']!, JSON.stringify(await allocations.stop()));
  const { acceptedConnections } = await server.usage();
  const rps = (requests / ms) * 1000;
  const cpuUs = (cpu.user + cpu.system) / requests;
  if (values.json)
    console.log(JSON.stringify({ client: values.client, rps, cpuUsPerRequest: cpuUs, connections: acceptedConnections, gc } satisfies ProfileResult));
  else {
    console.log(`${values.client}: ${Math.round(rps)} req/s, ${cpuUs.toFixed(1)} µs CPU per request, ${acceptedConnections} connections`);
    console.log(`  ${describeGc(gc)}`);
  }
} finally {
  await closeIt();
  await server.stop();
  await dnsServer.stop();
}
