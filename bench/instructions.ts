/**
 * The hot path's CPU cost in instructions, counted by valgrind's callgrind: a figure that does not move
 * with the machine's speed, unlike requests per second on a shared VM. It still moves from run to run,
 * by up to ±10 %: which JIT tier each function reached in the warm-up, and whether a full collection
 * falls in the measured requests (docs/benchmarks.md).
 *
 * Runs bench/profile.ts once per client under `valgrind --tool=callgrind` (the benchmark server, a
 * child process, runs natively). Each run warms up, then dumps callgrind's counters twice: once around
 * nothing (the cost of the control calls themselves) and once around the measured requests; the
 * difference is the client process's user-space instructions for exactly those requests, per thread.
 * Prints instructions per request and each client's ratio to raw undici twice: on the main thread
 * (the event loop: what bounds a client's requests per second) and over every thread (V8's background
 * JIT compilers and the collector's helpers included, which take a second core from whatever else
 * runs there).
 *
 * Kernel time (socket reads and writes) is not counted, and it is about the same for every client, so
 * the instruction ratio is a lower bound of the CPU-bound throughput ratio: raw / (raw + extra) over
 * user-space instructions is smaller than the same ratio with the kernel's share added to both.
 *
 * Usage: `npm run bench:instructions -- [--clients raw,resilient] [--requests N] [--warmup N]
 *         [--endpoints N] [--repeat N] [--keep DIR] [--node-flag FLAG] [--agent-options JSON] [--json]`
 *
 * `--node-flag FLAG` (repeatable) passes a flag to node: with `--node-flag=--perf-basic-prof`, V8 writes
 * /tmp/perf-<pid>.map, which names the JIT-compiled functions behind callgrind's `???` addresses.
 *
 * `--keep DIR` copies each run's dump of the measured requests to DIR/<client>-<run>.thread<NN>.callgrind
 * (thread 01 is the main thread), for `callgrind_annotate`: V8's builtins, runtime and collector show
 * by name, JIT-compiled JavaScript as `???` addresses.
 *
 * `--agent-options JSON` (default `{"maxConnectionAge":0}`) goes to ResilientAgent. Connection age is
 * off by default here because node runs about 40 times slower under callgrind: a 60 s pool age would
 * recycle every pool every couple of thousand requests instead of every few hundred thousand, and
 * count connection set-up as per-request cost.
 *
 * Needs valgrind (`apt-get install valgrind`). Slow: node runs about 40 times slower under callgrind,
 * so the default 10 000 warm-up and 10 000 measured requests take about four minutes per client. The
 * warm-up is long on purpose: with less, V8 is still compiling the client's code during the measured
 * requests, and the client with more code to compile pays for it there.
 *
 * @module
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeGc, parseProfileClients, positiveOption, profileArgs, runForJsonLine } from './lib.js';
import type { ProfileResult } from './profile.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: 'raw,resilient' },
    requests: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    keep: { type: 'string' },
    'node-flag': { type: 'string', multiple: true, default: [] },
    'agent-options': { type: 'string', default: '{"maxConnectionAge":0}' },
  },
});

const clients = parseProfileClients(values.clients);
const requests = positiveOption('requests', values.requests);
const warmup = positiveOption('warmup', values.warmup);
const repeat = positiveOption('repeat', values.repeat);
const endpoints = positiveOption('endpoints', values.endpoints);

/** One client's run under callgrind. */
interface Count {
  client: string;
  /** Instructions of the measured requests, every thread. */
  instructions: number;
  /** The same per request. */
  perRequest: number;
  /** Instructions per request of the main thread alone (the event loop, which bounds a client's throughput). */
  mainPerRequest: number;
  /** Connections the server accepted from the client (warm-up included). */
  connections: number;
  /** What the collector did during the measured requests (a client that promotes much pays for it in full collections). */
  gc: ProfileResult['gc'];
}

/** Runs one client under callgrind and returns the instructions of its measured requests. */
async function countOne(client: string, run: number): Promise<Count> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ridethrough-callgrind-'));
  try {
    const args = [
      '--tool=callgrind',
      '--separate-threads=yes',
      `--callgrind-out-file=${path.join(dir, 'cg.%p')}`,
      process.execPath,
      ...values['node-flag'],
      ...profileArgs(client, requests, warmup, endpoints),
      '--callgrind',
      '--agent-options',
      values['agent-options'],
    ];
    const result = await runForJsonLine<ProfileResult>(`valgrind run of ${client}`, 'valgrind', args);
    // Part 1 holds the control calls alone, part 2 the control calls and the measured requests; one
    // file per thread (cg.<pid>.<part>-01 is the main thread).
    const files = await readdir(dir);
    const total = async (part: 1 | 2): Promise<{ all: number; main: number }> => {
      const names = files.filter((f) => new RegExp(`^cg\\.\\d+\\.${part}-\\d+$`).test(f)).sort();
      if (names.length === 0) throw new Error(`callgrind wrote no dump part ${part} for ${client} (is callgrind_control on PATH?)`);
      let all = 0;
      let main = 0;
      for (const name of names) {
        const text = await readFile(path.join(dir, name), 'utf8');
        const m = /^summary:\s+(\d+)/m.exec(text) ?? /^totals:\s+(\d+)/m.exec(text);
        if (!m) throw new Error(`no instruction total in callgrind dump ${name}`);
        all += Number(m[1]);
        if (name.endsWith('-01')) main = Number(m[1]);
        if (values.keep && part === 2) {
          await mkdir(values.keep, { recursive: true });
          await copyFile(path.join(dir, name), path.join(values.keep, `${client}-${run + 1}.thread${name.slice(name.lastIndexOf('-') + 1)}.callgrind`));
        }
      }
      return { all, main };
    };
    const overhead = await total(1);
    const measured = await total(2);
    const instructions = measured.all - overhead.all;
    const mainThread = measured.main - overhead.main;
    return { client, instructions, perRequest: instructions / requests, mainPerRequest: mainThread / requests, connections: result.connections, gc: result.gc };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const counts: Count[] = [];
for (let r = 0; r < repeat; r++) {
  // Rotate the order, as the throughput benchmark does (nothing here depends on it, but it costs nothing).
  for (let i = 0; i < clients.length; i++) {
    const client = clients[(i + r) % clients.length]!;
    const c = await countOne(client, r);
    counts.push(c);
    if (!values.json) {
      console.error(
        `  ${client}: ${Math.round(c.mainPerRequest)} instructions per request on the main thread, ${Math.round(c.perRequest)} on all threads, ${c.connections} connections; ` +
          describeGc(c.gc),
      );
    }
  }
}

const mean = (client: string, key: 'perRequest' | 'mainPerRequest'): number => {
  const list = counts.filter((c) => c.client === client).map((c) => c[key]);
  return list.reduce((a, b) => a + b, 0) / list.length;
};
const rows = clients.map((client) => ({
  client,
  /** Instructions per request on the main thread (the event loop). */
  mainThread: Math.round(mean(client, 'mainPerRequest')),
  /** raw undici's main-thread instructions per request / this client's. */
  mainRatio: Math.round((mean('raw', 'mainPerRequest') / mean(client, 'mainPerRequest')) * 1000) / 1000,
  /** Instructions per request over every thread (JIT compilers and the collector's helpers included). */
  allThreads: Math.round(mean(client, 'perRequest')),
  /** raw undici's all-thread instructions per request / this client's. */
  allRatio: Math.round((mean('raw', 'perRequest') / mean(client, 'perRequest')) * 1000) / 1000,
  runs: counts
    .filter((c) => c.client === client)
    .map((c) => ({ mainThread: Math.round(c.mainPerRequest), allThreads: Math.round(c.perRequest), connections: c.connections, gc: c.gc })),
}));
const report = { node: process.version, requests, warmup, endpoints, repeat, rows };
if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(`\nInstructions per request (callgrind, ${requests} requests after ${warmup} warm-up, ${endpoints} endpoint(s), Node ${process.version}):`);
  console.log(`  ${'client'.padEnd(13)} ${'main thread'.padStart(11)} ${'raw/this'.padStart(8)} ${'all threads'.padStart(11)} ${'raw/this'.padStart(8)}`);
  for (const r of rows) {
    console.log(
      `  ${r.client.padEnd(13)} ${String(r.mainThread).padStart(11)} ${r.mainRatio.toFixed(3).padStart(8)} ${String(r.allThreads).padStart(11)} ${r.allRatio.toFixed(3).padStart(8)}`,
    );
  }
}
