/**
 * The hot path with every client alone in its own process: what an application sees when it uses
 * one client only.
 *
 * The main benchmark (bench/hot-path.ts) interleaves the clients in one process, as the issue asks
 * ("in the same run"). There, undici's own code is shared: raw undici's calls into its pools see
 * ridethrough's handler classes too, and run slower for it (V8's inline caches turn polymorphic), which
 * flatters ridethrough. Here each client runs in a fresh process (bench/profile.ts: its own benchmark
 * server and lab DNS server), clients take turns round after round (the first one rotating), and the
 * figures are medians over rounds.
 *
 * Usage: `npm run bench:isolated -- [--clients raw,resilient] [--rounds N] [--requests N] [--warmup N]
 *         [--endpoints N] [--json]`
 *
 * Prints per client the median requests per second and CPU per request, and against raw undici the
 * ratio of medians and the median of per-round ratios. Timings on a shared machine are noisy: see
 * bench/instructions.ts for a count that is not.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { median, parseProfileClients, positiveOption, profileArgs, round, runForJsonLine } from './lib.js';
import type { ProfileResult } from './profile.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: 'raw,resilient' },
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '20000' },
    endpoints: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

const clients = parseProfileClients(values.clients);
const rounds = positiveOption('rounds', values.rounds);
const requests = positiveOption('requests', values.requests);
const warmup = positiveOption('warmup', values.warmup);
const endpoints = positiveOption('endpoints', values.endpoints);

/** Runs one client alone in a fresh process. */
function runOne(client: string): Promise<ProfileResult> {
  const args = profileArgs(client, requests, warmup, endpoints);
  return runForJsonLine<ProfileResult>(`${client} run`, process.execPath, args);
}

const results = new Map<string, ProfileResult[]>(clients.map((c) => [c, []]));
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < clients.length; i++) {
    const client = clients[(i + r) % clients.length]!;
    const res = await runOne(client);
    results.get(client)!.push(res);
    if (!values.json)
      console.error(
        `  round ${r + 1}: ${client} ${Math.round(res.rps)} req/s, ${res.cpuUsPerRequest.toFixed(1)} µs CPU per request, ${Math.round(res.gc.promotedBytesPerRequest)} B promoted per request`,
      );
  }
}

/** One client's row of the report. */
export interface IsolatedRow {
  /** Client id. */
  client: string;
  /** Median requests per second over rounds. */
  medianRps: number;
  /** Median process CPU time per request over rounds, µs. */
  medianCpuUsPerRequest: number;
  /** Median rps / raw undici's median rps. */
  throughputRatio: number;
  /** Median over rounds of this round's rps / raw undici's rps in the same round. */
  medianRoundRatio: number;
  /** Raw undici's median CPU per request / this client's. */
  cpuRatio: number;
  /** Median bytes per request promoted to the old generation by young-generation collections. */
  medianPromotedBytesPerRequest: number;
  /** Median collector pause per request on the main thread, µs. */
  medianGcPauseUsPerRequest: number;
}

/** The `--json` output. */
export interface IsolatedReport {
  node: string;
  rounds: number;
  requests: number;
  warmup: number;
  endpoints: number;
  rows: IsolatedRow[];
}

const raw = results.get('raw')!;
const rows = clients.map((client): IsolatedRow => {
  const list = results.get(client)!;
  const rps = median(list.map((x) => x.rps));
  const cpu = median(list.map((x) => x.cpuUsPerRequest));
  return {
    client,
    medianRps: Math.round(rps),
    medianCpuUsPerRequest: round(cpu, 1),
    throughputRatio: round(rps / median(raw.map((x) => x.rps)), 3),
    medianRoundRatio: round(median(list.map((x, i) => x.rps / raw[i]!.rps)), 3),
    cpuRatio: round(median(raw.map((x) => x.cpuUsPerRequest)) / cpu, 3),
    medianPromotedBytesPerRequest: Math.round(median(list.map((x) => x.gc.promotedBytesPerRequest))),
    medianGcPauseUsPerRequest: round(median(list.map((x) => x.gc.pauseUsPerRequest)), 2),
  };
});
const report: IsolatedReport = { node: process.version, rounds, requests, warmup, endpoints, rows };
if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(
    `\nEach client alone in its own process (${rounds} rounds of ${requests} requests after ${warmup} warm-up, ${endpoints} endpoint(s), Node ${process.version}):`,
  );
  console.log(
    `  ${'client'.padEnd(13)} ${'req/s'.padStart(7)} ${'ratio'.padStart(6)} ${'round ratio'.padStart(11)} ${'µs CPU/req'.padStart(10)} ${'raw/this'.padStart(8)} ${'promoted B/req'.padStart(14)} ${'GC µs/req'.padStart(9)}`,
  );
  for (const r of rows) {
    console.log(
      `  ${r.client.padEnd(13)} ${String(r.medianRps).padStart(7)} ${r.throughputRatio.toFixed(3).padStart(6)} ${r.medianRoundRatio.toFixed(3).padStart(11)} ${r.medianCpuUsPerRequest.toFixed(1).padStart(10)} ${r.cpuRatio.toFixed(3).padStart(8)} ${String(r.medianPromotedBytesPerRequest).padStart(14)} ${r.medianGcPauseUsPerRequest.toFixed(2).padStart(9)}`,
    );
  }
}
