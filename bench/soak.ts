/**
 * Soak: steady concurrent traffic through one {@link ResilientAgent} to several hosts whose pods are
 * replaced every few seconds, for minutes, watching the client's state: heap after a full GC, the
 * agent's per-origin and per-endpoint state (`agent.stats`), open sockets and other handles. Pods are
 * HTTP servers in a child process (bench/server.ts) on loopback addresses 127.0.116.1–127.0.119.250;
 * the DNS server (packages/testbed) is on 127.0.116.254, UDP. A replacement starts a pod on a new
 * address, publishes the host's new answer in DNS (record TTL 1 s), and kills the old pod shortly
 * after (its connections reset), so the agent also meets refused connects and reset keep-alive
 * connections while its DNS answer is stale.
 *
 * Every `--interval` seconds it prints one line of figures; at the end a verdict, and it exits 1 when
 * state grows without bound: endpoints per host above what DNS ever lists plus the pods on their way
 * out, origins above the hosts, the heap after GC growing (past `max(16 MB, 25 %)` of its first
 * steady reading, with a positive slope), sockets above a bound, or the connections open at the pods
 * growing.
 *
 * Usage: `npm run soak -- [--duration S] [--hosts N] [--replicas N] [--concurrency N] [--interval S]
 *         [--replace-every S] [--json]`
 * (`--expose-gc` is required: `npm run soak` passes it.)
 *
 * @module
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { DnsServer } from '@ridethrough/testbed';
import { ResilientAgent, subjectBuild } from './subject.js';
import { ServerProcess, collectedMemory, positiveOption, round } from './lib.js';

/** Every pod address the soak may use, in the order it uses them (then again from the start). */
const addressPool = Array.from({ length: 1_000 }, (_, i) => `127.0.${116 + Math.floor(i / 250)}.${1 + (i % 250)}`);
const dnsAddress = '127.0.116.254';
/** How long a replaced pod keeps serving after DNS stopped listing it (below the record TTL, so clients still reach it). */
const killAfterMs = 500;
const recordTtlSeconds = 1;

/** One reading, every `--interval` seconds. */
export interface SoakSample {
  /** Seconds since traffic started. */
  readonly t: number;
  readonly requests: number;
  readonly failures: number;
  /** Heap used after a full collection, bytes. */
  readonly heapBytes: number;
  /** Origins in `agent.stats`. */
  readonly origins: number;
  /** Most endpoints any origin holds, and all of them together. */
  readonly endpointsMax: number;
  readonly endpointsTotal: number;
  /** Connections the endpoint pools hold (undici's `connected`, summed over `agent.stats`). */
  readonly poolConnections: number;
  /** Connections open at the pods now, and accepted since the start (the server process's count). */
  readonly serverOpenConnections: number;
  readonly serverAcceptedConnections: number;
  /** Host names in the agent's DNS cache. */
  readonly dnsEntries: number;
  /** Open TCP sockets (`process.getActiveResourcesInfo()`), every active resource, and their count by type. */
  readonly sockets: number;
  readonly handles: number;
  readonly resources: Readonly<Record<string, number>>;
  /** DNS queries the server received since the previous reading. */
  readonly dnsQueries: number;
  /** Pods replaced so far. */
  readonly replacements: number;
}

/** What the soak found. */
export interface SoakReport {
  readonly meta: {
    node: string;
    cpu: string;
    cpus: number;
    build: string;
    durationS: number;
    hosts: number;
    replicas: number;
    concurrency: number;
    replaceEveryS: number;
  };
  readonly samples: readonly SoakSample[];
  readonly requests: number;
  readonly failuresByCode: Readonly<Record<string, number>>;
  readonly replacements: number;
  readonly verdict: {
    readonly pass: boolean;
    readonly reasons: readonly string[];
    /** Heap after GC at the first steady reading and at the last, bytes; slope over the steady readings, bytes per minute. */
    readonly heapStartBytes: number;
    readonly heapEndBytes: number;
    readonly heapSlopeBytesPerMin: number;
    readonly endpointsMax: number;
    readonly endpointsBound: number;
    readonly socketsMax: number;
  };
}

function options(): { durationS: number; hosts: number; replicas: number; concurrency: number; intervalS: number; replaceEveryS: number; json: boolean } {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '180' },
      hosts: { type: 'string', default: '8' },
      replicas: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '64' },
      interval: { type: 'string', default: '10' },
      'replace-every': { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
    },
  });
  const o = {
    durationS: positiveOption('duration', values.duration),
    hosts: positiveOption('hosts', values.hosts),
    replicas: positiveOption('replicas', values.replicas),
    concurrency: positiveOption('concurrency', values.concurrency),
    intervalS: positiveOption('interval', values.interval),
    replaceEveryS: positiveOption('replace-every', values['replace-every']),
    json: values.json,
  };
  if (o.hosts * (o.replicas + 1) > addressPool.length / 2) throw new RangeError(`--hosts × (--replicas + 1) must stay under ${addressPool.length / 2}`);
  return o;
}

/** Heap used after full collections, once it stops shrinking. */
async function heapAfterGc(): Promise<number> {
  return (await collectedMemory('bench/soak.ts (npm run soak passes it)', 5, 64 * 1024)).heapUsed;
}

/** The code a failed request is counted under: the give-up's code and the network error under it. */
function failureCode(err: unknown): string {
  const codes: string[] = [];
  let e = err;
  for (let depth = 0; depth < 3 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    codes.push(typeof code === 'string' ? code : e.name);
    e = e.cause;
  }
  return codes.join(' <- ') || String(err);
}

/** Least-squares slope of `y` over `x`. */
function slope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Judges the readings: what must stay bounded, and whether it did. */
function judge(samples: readonly SoakSample[], o: ReturnType<typeof options>): SoakReport['verdict'] {
  // The first third warms up (JIT, pools, caches); judge growth over the rest.
  const steady = samples.filter((s) => s.t >= samples.at(-1)!.t / 3);
  const judged = steady.length >= 2 ? steady : samples;
  const first = judged[0]!;
  const last = judged.at(-1)!;
  const heapSlopeBytesPerMin = slope(
    judged.map((s) => s.t / 60),
    judged.map((s) => s.heapBytes),
  );
  // Each host: the replicas DNS lists, a new pod that joined, an old one not yet dropped, with room for a stale answer.
  const endpointsBound = 2 * o.replicas + 2;
  const endpointsMax = Math.max(...samples.map((s) => s.endpointsMax));
  const socketsMax = Math.max(...samples.map((s) => s.sockets));
  const socketsBound = 2 * o.concurrency + 2 * o.hosts * (o.replicas + 1);
  const reasons: string[] = [];
  if (endpointsMax > endpointsBound) reasons.push(`endpoints per host reached ${endpointsMax} (bound ${endpointsBound})`);
  const originsMax = Math.max(...samples.map((s) => s.origins));
  if (originsMax > o.hosts) reasons.push(`origins reached ${originsMax} for ${o.hosts} hosts`);
  const namesMax = Math.max(...samples.map((s) => s.dnsEntries));
  if (namesMax > o.hosts) reasons.push(`the DNS cache reached ${namesMax} names for ${o.hosts} hosts`);
  const heapGrowth = last.heapBytes - first.heapBytes;
  if (heapSlopeBytesPerMin > 0 && heapGrowth > Math.max(16 * 1024 * 1024, 0.25 * first.heapBytes)) {
    reasons.push(`heap after GC grew ${mb(heapGrowth)} (${mb(first.heapBytes)} → ${mb(last.heapBytes)}, ${mb(heapSlopeBytesPerMin)}/min)`);
  }
  if (socketsMax > socketsBound) reasons.push(`open sockets reached ${socketsMax} (bound ${socketsBound})`);
  // Idle keep-alive connections are unref'd (not in the active resources): the pods count every one.
  if (last.serverOpenConnections > 2 * first.serverOpenConnections + o.concurrency) {
    reasons.push(`connections open at the pods grew from ${first.serverOpenConnections} to ${last.serverOpenConnections}`);
  }
  if (samples.at(-1)!.requests === 0) reasons.push('no request completed');
  return {
    pass: reasons.length === 0,
    reasons,
    heapStartBytes: first.heapBytes,
    heapEndBytes: last.heapBytes,
    heapSlopeBytesPerMin,
    endpointsMax,
    endpointsBound,
    socketsMax,
  };
}

/** Runs the soak and returns its report. */
export async function soak(o: ReturnType<typeof options>, log: (line: string) => void): Promise<SoakReport> {
  const dns = new DnsServer({ address: dnsAddress, port: 0 });
  await dns.start();
  let nextAddress = 0;
  const take = (): string => addressPool[nextAddress++ % addressPool.length]!;
  const hosts = Array.from({ length: o.hosts }, (_, i) => ({ name: `h${i}.soak.test`, pods: Array.from({ length: o.replicas }, take) }));
  const server = await ServerProcess.start(hosts.flatMap((h) => h.pods));
  const publish = (h: (typeof hosts)[number]): void => dns.setRecords(h.name, { a: h.pods, ttl: recordTtlSeconds });
  for (const h of hosts) publish(h);
  const agent = new ResilientAgent({ dns: { servers: [dns.server], search: [], hostsFile: false, family: 4 } });

  let requests = 0;
  let failures = 0;
  const failuresByCode: Record<string, number> = {};
  let replacements = 0;
  let running = true;
  /** Pods waiting to be killed: their timers are cleared at the end, before the server process stops. */
  const kills = new Set<NodeJS.Timeout>();
  const started = performance.now();
  const endAt = started + o.durationS * 1_000;

  const worker = async (w: number): Promise<void> => {
    for (let i = w; running; i++) {
      const h = hosts[i % hosts.length]!;
      try {
        const res = await request(`http://${h.name}:${server.port}/`, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 200) throw Object.assign(new Error(`HTTP ${res.statusCode}`), { code: `HTTP_${res.statusCode}` });
      } catch (err) {
        failures++;
        const code = failureCode(err);
        failuresByCode[code] = (failuresByCode[code] ?? 0) + 1;
      }
      requests++;
    }
  };

  // One replacement every replaceEvery / hosts seconds, host after host: each host's oldest pod goes.
  const replacer = async (): Promise<void> => {
    const everyMs = (o.replaceEveryS * 1_000) / o.hosts;
    for (let i = 0; running; i++) {
      await sleep(everyMs);
      if (!running) return;
      const h = hosts[i % hosts.length]!;
      const fresh = take();
      await server.add(fresh);
      const old = h.pods.shift()!;
      h.pods.push(fresh);
      publish(h);
      replacements++;
      const kill = setTimeout(() => {
        kills.delete(kill);
        void server.remove(old).catch(() => {});
      }, killAfterMs);
      kills.add(kill);
    }
  };

  const samples: SoakSample[] = [];
  const reader = async (): Promise<void> => {
    while (running) {
      const wait = Math.min(o.intervalS * 1_000, endAt - performance.now());
      if (wait > 0) await sleep(wait);
      const heapBytes = await heapAfterGc();
      const pods = await server.usage();
      const stats = Object.values(agent.stats);
      const endpoints = stats.map((s) => s.endpoints.length);
      const resources = process.getActiveResourcesInfo();
      const byType: Record<string, number> = {};
      for (const r of resources) byType[r] = (byType[r] ?? 0) + 1;
      const dnsQueries = dns.queryCount();
      dns.clearLog();
      const sample: SoakSample = {
        t: round((performance.now() - started) / 1_000, 1),
        requests,
        failures,
        heapBytes,
        origins: stats.length,
        endpointsMax: Math.max(0, ...endpoints),
        endpointsTotal: endpoints.reduce((a, b) => a + b, 0),
        poolConnections: stats.reduce((a, st) => a + st.connected, 0),
        serverOpenConnections: pods.openConnections,
        serverAcceptedConnections: pods.acceptedConnections,
        dnsEntries: agent.context.dns.size,
        sockets: byType.TCPSocketWrap ?? 0,
        handles: resources.length,
        resources: byType,
        dnsQueries,
        replacements,
      };
      const previous = samples.at(-1);
      samples.push(sample);
      const rate = Math.round((sample.requests - (previous?.requests ?? 0)) / (sample.t - (previous?.t ?? 0)));
      log(
        `t=${String(Math.round(sample.t)).padStart(4)}s  requests ${sample.requests.toLocaleString('en')} (${rate.toLocaleString('en')}/s)  failures ${sample.failures}  heap after GC ${mb(sample.heapBytes)}  origins ${sample.origins}  endpoints/host max ${sample.endpointsMax} (total ${sample.endpointsTotal})  pool connections ${sample.poolConnections}  at the pods ${sample.serverOpenConnections} open, ${sample.serverAcceptedConnections.toLocaleString('en')} accepted  dns cache ${sample.dnsEntries}  sockets ${sample.sockets}  handles ${sample.handles}  dns queries ${sample.dnsQueries}  pods replaced ${sample.replacements}`,
      );
      if (performance.now() >= endAt) running = false;
    }
  };

  try {
    await Promise.all([reader(), replacer(), ...Array.from({ length: o.concurrency }, (_, w) => worker(w))]);
  } finally {
    running = false;
    for (const kill of kills) clearTimeout(kill);
    await agent.destroy();
    await server.stop();
    await dns.stop();
  }
  const cpus = os.cpus();
  return {
    meta: {
      node: process.version,
      cpu: cpus[0]?.model ?? 'unknown',
      cpus: cpus.length,
      build: subjectBuild,
      durationS: o.durationS,
      hosts: o.hosts,
      replicas: o.replicas,
      concurrency: o.concurrency,
      replaceEveryS: o.replaceEveryS,
    },
    samples,
    requests,
    failuresByCode,
    replacements,
    verdict: judge(samples, o),
  };
}

async function main(): Promise<void> {
  const o = options();
  const log = o.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => console.log(line);
  log(
    `soak: ${o.durationS} s, ${o.hosts} hosts × ${o.replicas} replicas, a pod replaced every ${o.replaceEveryS} s per host, ${o.concurrency} requests in flight; ridethrough from ${subjectBuild}; Node ${process.version}`,
  );
  const report = await soak(o, log);
  const v = report.verdict;
  log(
    `verdict: ${v.pass ? 'PASS' : 'FAIL'}: ${report.requests.toLocaleString('en')} requests, ${report.replacements} pods replaced, failures ${JSON.stringify(report.failuresByCode)}; heap after GC ${mb(v.heapStartBytes)} → ${mb(v.heapEndBytes)} (slope ${mb(v.heapSlopeBytesPerMin)}/min over the steady readings); endpoints per host max ${v.endpointsMax} (bound ${v.endpointsBound}); sockets max ${v.socketsMax}${v.pass ? '' : `\n  ${v.reasons.join('\n  ')}`}`,
  );
  if (o.json) console.log(JSON.stringify(report));
  process.exitCode = v.pass ? 0 : 1;
}

await main();
