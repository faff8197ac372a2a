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
import { Pool } from 'undici';
import { type Client, type ClientId, get, makeClients } from './clients.js';
import { DnsServer } from '@ridethrough/testbed';
import { dnsAddress, describeGc, type GcSummary, hotAddresses, profileClients, ServerProcess, startGcProfile } from './lib.js';

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
 * One client, as the hot-path benchmark makes it (bench/clients.ts: raw undici round-robins over the IP
 * origins, the name-based clients resolve through the lab DNS server), plus `pool`: one undici `Pool` on
 * the first address, no `Agent` in front (the floor under raw undici).
 */
function makeClient(name: string): Pick<Client, 'send' | 'close'> {
  if (name === 'pool') {
    const pool = new Pool(`http://${addresses[0]}:${server.port}`);
    const url = `http://${addresses[0]}:${server.port}/`;
    return { send: () => get(url, pool), close: () => pool.close() };
  }
  if (!(profileClients as readonly string[]).includes(name)) throw new RangeError(`--client must be one of ${profileClients.join(', ')}; got ${name}`);
  const agentOptions = JSON.parse(values['agent-options']) as Record<string, unknown>;
  const layout = { addresses, host: 'hot.bench.test', port: server.port, dns: dnsServer.server, concurrency, agentOptions };
  return makeClients(layout, [name as ClientId])[0]!;
}

const client = makeClient(values.client);
if (values.first) {
  // Another client first, in this process: shows what sharing undici's code with it costs.
  const other = makeClient(values.first);
  await drive(other.send, requests);
  await other.close();
}
try {
  await drive(client.send, Number(values.warmup));
  if (values.callgrind) {
    // Part 1 of the dump: the control calls alone (bench/instructions.ts subtracts it from part 2).
    callgrindControl('--zero');
    callgrindControl('--dump');
    callgrindControl('--zero');
  }
  const allocations = values['alloc-profile'] ? await startAllocationSampling(values['alloc-survivors']) : undefined;
  const gcProfile = startGcProfile();
  const cpu0 = process.cpuUsage();
  const ms = await drive(client.send, requests);
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
  await client.close();
  await server.stop();
  await dnsServer.stop();
}
