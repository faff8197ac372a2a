/**
 * The lab run: starts the lab DNS, replays each scenario with every client at once, and collects
 * the results. Cleans up pods, DNS and iptables rules on success, failure, SIGINT and SIGTERM.
 * @module
 */
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, resolve as resolvePath } from 'node:path';
import { clientHeader, DnsServer, ExecutionLedger, KubeApiServer, LabPod, type PodMode, requestIdHeader } from '@ridethrough/testbed';
import { Availability, boundSummary } from './bound.js';
import { clientDefinitions } from './clients/index.js';
import type { ClientEnvironment, LabClient } from './clients/types.js';
import { LabFirewall, firewallUnavailable } from './firewall.js';
import { kubernetesScenarioNames, type LabOptions, resolveLabOptions, type ResolvedLabOptions, scenarioNames } from './options.js';
import { Progress } from './progress.js';
import { renderHtmlReport } from './report/html.js';
import { poissonSchedule } from './schedule.js';
import { scenarioDefinitions } from './scenarios/index.js';
import { recordTtl, ScenarioSkip, type ScenarioContext, type ScenarioDefinition } from './scenarios/types.js';
import { bucketFor, errorCounts, latencySummary, samples, spread, timeline } from './stats.js';
import { driveTraffic, type TrafficLane } from './traffic.js';
import type { ClientInfo, ClientName, ClientRun, LabEvent, LabResult, PostSummary, ScenarioResult } from './types.js';

/** The lab DNS server's address. */
export const labDnsAddress = '127.0.100.53';
/** Its fixed port: a second lab run on the machine fails fast instead of fighting over addresses. */
export const labDnsPort = 10053;
/** The address of the Kubernetes API double, in scenarios that run one (plain HTTP, any port). */
export const labKubeApiAddress = '127.0.100.10';
/** The bearer token the lab's API double accepts. */
const labKubeToken = 'lab-token';
/** The port pods listen on, unless it is taken. */
const preferredPodPort = 8080;

type ClientFactory = (env: ClientEnvironment) => LabClient;

/**
 * Replays the chosen scenarios with the chosen clients and returns what happened. Writes the HTML
 * report when `options.report` is a path.
 *
 * Scenarios that need root (iptables) are skipped, with the reason, when not running as root or
 * without iptables; clients whose package is not installed are skipped likewise. While iptables
 * rules are in place, SIGINT and SIGTERM remove them and end the process (exit code 130/143), and
 * so does any other exit; they are always removed before this function settles.
 *
 * @example
 * ```ts
 * import { runLab } from '@ridethrough/lab';
 * const result = await runLab({ scenarios: ['move'], rate: 20, report: './lab-report/index.html' });
 * console.log(result.scenarios[0].clients.map((c) => [c.client, c.failed]));
 * ```
 * @throws TypeError/RangeError on invalid options; Error when the lab DNS port is taken (another run)
 */
export async function runLab(options: LabOptions = {}): Promise<LabResult> {
  const o = resolveLabOptions(options);
  const startedAt = new Date();
  const progress = new Progress(o.progress);
  const rootUnavailable = firewallUnavailable();

  const factories = new Map<ClientName, ClientFactory>();
  const unavailable = new Map<ClientName, string>();
  const clientInfos: ClientInfo[] = [];
  for (const name of o.clients) {
    const def = clientDefinitions[name];
    const loaded = await def.load();
    const reason = typeof loaded === 'function' ? undefined : loaded.unavailable;
    if (typeof loaded === 'function') factories.set(name, loaded);
    else unavailable.set(name, loaded.unavailable);
    clientInfos.push({
      name,
      available: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      description: def.description,
      resolution: def.resolution,
    });
  }

  const dns = new DnsServer({ address: labDnsAddress, port: labDnsPort });
  try {
    await dns.start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`ridethrough-lab: ${labDnsAddress}:${labDnsPort} (the lab DNS) is in use; is another lab run in progress?`);
    }
    throw err;
  }

  let firewall: LabFirewall | undefined;
  let stopCleanup = (): void => {};
  const scenarios: ScenarioResult[] = [];
  try {
    const port = await pickPodPort();
    if (rootUnavailable === null && o.scenarios.some((n) => scenarioDefinitions[n].needsRoot)) {
      stopCleanup = cleanupOnExit(() => firewall?.close());
      firewall = LabFirewall.open();
    }
    for (const [index, name] of o.scenarios.entries()) {
      const def = scenarioDefinitions[name];
      const label = `[${index + 1}/${o.scenarios.length}] ${name}`;
      const durationMs = o.duration === null ? def.defaultDurationMs : Math.round(o.duration * 1000);
      const skipReason = o.signal?.aborted
        ? 'the run was stopped'
        : def.needsRoot && firewall === undefined
          ? (rootUnavailable ?? 'iptables is not available')
          : undefined;
      if (skipReason !== undefined) {
        progress.skip(label, skipReason);
        scenarios.push(notRun(def, durationMs, o.rate, 'skipped', skipReason));
        continue;
      }
      scenarios.push(await runScenario({ def, durationMs, label, o, dns, port, firewall, factories, unavailable, progress }));
    }
  } finally {
    stopCleanup();
    firewall?.close();
    progress.close();
    await dns.stop();
  }

  let result: LabResult = {
    tool: 'ridethrough-lab',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      root: typeof process.getuid === 'function' && process.getuid() === 0,
      rootUnavailable,
      undici: undiciVersion(),
    },
    settings: { scenarios: o.scenarios, clients: o.clients, rate: o.rate, duration: o.duration, timeout: o.timeout },
    clients: clientInfos,
    scenarios,
  };
  if (o.report !== false) {
    const path = resolvePath(o.report);
    await mkdir(dirname(path), { recursive: true });
    result = { ...result, report: path };
    await writeFile(path, renderHtmlReport(result));
  }
  return result;
}

interface ScenarioRun {
  readonly def: ScenarioDefinition;
  readonly durationMs: number;
  readonly label: string;
  readonly o: ResolvedLabOptions;
  readonly dns: DnsServer;
  readonly port: number;
  readonly firewall: LabFirewall | undefined;
  readonly factories: ReadonlyMap<ClientName, ClientFactory>;
  readonly unavailable: ReadonlyMap<ClientName, string>;
  readonly progress: Progress;
}

async function runScenario(run: ScenarioRun): Promise<ScenarioResult> {
  const { def, durationMs, o, dns, port } = run;
  const subnet = 110 + [...scenarioNames, ...kubernetesScenarioNames].indexOf(def.name);
  const host = serviceName(def);
  const pods: LabPod[] = [];
  const ledger = new ExecutionLedger();
  const planned: { t: number; event: Omit<LabEvent, 't'>; action: () => void | Promise<void> }[] = [];
  const events: LabEvent[] = [];
  let t0: number | undefined;
  // Setup happens before traffic starts: its moments count as 0.
  const elapsed = (): number => (t0 === undefined ? 0 : performance.now() - t0);
  const availability = new Availability(elapsed);
  // The service's current A records; rotated every 50 ms like CoreDNS's loadbalance plugin rotates answers.
  let records: string[] = [];
  const rotation = setInterval(() => {
    if (records.length < 2) return;
    records = [...records.slice(1), records[0]!];
    dns.setRecords(host, { a: records, ttl: recordTtl });
  }, 50);
  // The Service's EndpointSlices, for scenarios with a Kubernetes API (namespace: the scenario's name).
  const kubeApi = def.kubernetesApi ? new KubeApiServer({ address: labKubeApiAddress, tokens: [labKubeToken] }) : undefined;
  const ctx: ScenarioContext = {
    durationMs,
    rate: o.rate,
    host,
    port,
    dns,
    firewall: def.needsRoot ? run.firewall : undefined,
    ledger,
    address: (n) => `127.0.${subnet}.${n}`,
    async startPod(mode?: PodMode, options?: { idleCloseMs?: number }) {
      const n = pods.length + 1;
      const pod = new LabPod({ name: `inventory-${n}`, address: ctx.address(n), port, mode, ledger, idleCloseMs: options?.idleCloseMs });
      pods.push(pod);
      await pod.start();
      return pod;
    },
    publish(targets) {
      records = targets.map((t) => (typeof t === 'string' ? t : t.address));
      // The moment is taken before the answer changes, so a window never ends late.
      const at = elapsed();
      dns.setRecords(host, { a: records, ttl: recordTtl });
      availability.published(records, at);
    },
    lost(target) {
      availability.lost(typeof target === 'string' ? target : target.address);
    },
    publishEndpoints(endpoints) {
      if (!kubeApi) throw new Error(`scenario ${def.name} has no Kubernetes API (kubernetesApi: true)`);
      kubeApi.applySlice({
        namespace: def.name,
        service: 'inventory',
        endpoints: endpoints.map((e) => ({
          address: typeof e.target === 'string' ? e.target : e.target.address,
          ...(e.terminating ? { ready: false, serving: true, terminating: true } : {}),
        })),
        ports: [{ name: 'http', port }],
      });
    },
    at(t, event, action) {
      planned.push({ t, event, action });
    },
  };

  const lanes: TrafficLane[] = [];
  const timers: NodeJS.Timeout[] = [];
  let actionError: unknown;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  try {
    await kubeApi?.start();
    await def.setup(ctx);
    for (const name of o.clients) {
      const factory = run.factories.get(name);
      const env: ClientEnvironment = { dnsServer: dns.server, ...(kubeApi ? { kubeApi: { url: kubeApi.url, token: labKubeToken } } : {}) };
      if (factory) lanes.push({ name, client: factory(env), records: [], sent: 0, ok: 0, failed: 0 });
    }
    const schedule = poissonSchedule(o.rate, durationMs, def.name);
    const start = performance.now();
    t0 = start;
    for (const p of planned) {
      timers.push(
        setTimeout(() => {
          events.push({ t: Math.round(performance.now() - start), ...p.event });
          Promise.resolve()
            .then(p.action)
            .catch((err: unknown) => {
              actionError ??= err;
            });
        }, p.t),
      );
    }
    run.progress.start(run.label, durationMs, lanes, start);
    loopDelay.enable();
    await driveTraffic({
      schedule,
      lanes,
      t0: start,
      timeoutMs: o.timeout * 1000,
      signal: o.signal,
      request: (lane, seq) => {
        const id = `${lane.name}-${seq}`;
        const headers: Record<string, string> = { [requestIdHeader]: id, [clientHeader]: lane.name };
        if (def.method === 'POST') headers['content-type'] = 'application/json';
        return {
          url: `http://${host}:${port}/orders/${seq % 100}`,
          method: def.method,
          headers,
          ...(def.method === 'POST' ? { body: JSON.stringify({ id, item: seq % 100, quantity: 1 }) } : {}),
        };
      },
    });
    loopDelay.disable();
    if (actionError !== undefined) throw actionError;
    const windows = availability.windows(performance.now() - start);
    const bucketMs = bucketFor(durationMs);
    const clients: ClientRun[] = o.clients.map((name) => {
      const lane = lanes.find((l) => l.name === name);
      if (!lane) return skippedClient(name, run.unavailable.get(name) ?? 'not available');
      const records = [...lane.records].sort((a, b) => a.seq - b.seq);
      return {
        client: name,
        status: 'ran',
        sent: lane.sent,
        succeeded: lane.ok,
        failed: lane.failed,
        ...(lane.client.retries ? { retries: lane.client.retries() } : {}),
        errors: errorCounts(records),
        latency: latencySummary(records),
        bound: boundSummary(records, windows),
        ...(def.method === 'POST' ? { post: postSummary(name, records, ledger) } : {}),
        timeline: timeline(records, durationMs, bucketMs),
        samples: samples(records),
        ...(def.name === 'scale-up' ? { spread: spread(records, durationMs, Math.max(bucketMs, 250)) } : {}),
      };
    });
    const result: ScenarioResult = {
      ...describe(def, durationMs, host, o.rate),
      status: 'ran',
      eventLoop: { p99Ms: Math.round(loopDelay.percentile(99) / 1e5) / 10, maxMs: Math.round(loopDelay.max / 1e5) / 10 },
      events: events.sort((a, b) => a.t - b.t),
      windows,
      pods: pods.map((p) => p.summary()),
      clients,
    };
    run.progress.finish(result);
    return result;
  } catch (err) {
    const skip = err instanceof ScenarioSkip;
    const result = notRun(
      def,
      durationMs,
      o.rate,
      skip ? 'skipped' : 'failed',
      skip ? err.message : `the lab failed: ${(err as Error)?.message ?? String(err)}`,
    );
    run.progress.finish(result);
    return result;
  } finally {
    loopDelay.disable();
    clearInterval(rotation);
    for (const t of timers) clearTimeout(t);
    try {
      ctx.firewall?.reset();
    } finally {
      dns.resume();
      dns.setMode('normal');
      dns.removeRecords(host);
      await Promise.all(lanes.map((l) => l.client.close().catch(() => {})));
      await Promise.all(pods.map((p) => p.kill()));
      await kubeApi?.stop();
    }
  }
}

function describe(
  def: ScenarioDefinition,
  durationMs: number,
  host: string,
  rate: number,
): Pick<ScenarioResult, 'name' | 'title' | 'summary' | 'method' | 'durationMs' | 'timing'> {
  return { name: def.name, title: def.title, summary: def.summary, method: def.method, durationMs, timing: def.timing(durationMs, host, rate) };
}

function notRun(def: ScenarioDefinition, durationMs: number, rate: number, status: 'skipped' | 'failed', reason: string): ScenarioResult {
  return { ...describe(def, durationMs, serviceName(def), rate), status, reason, events: [], windows: [], pods: [], clients: [] };
}

/** The service's DNS name in a scenario. */
function serviceName(def: ScenarioDefinition): string {
  return `inventory.${def.name}.svc.cluster.local`;
}

function skippedClient(client: ClientName, reason: string): ClientRun {
  return { client, status: 'skipped', reason, sent: 0, succeeded: 0, failed: 0, errors: {}, latency: null, bound: null, timeline: [], samples: [] };
}

function postSummary(client: ClientName, records: readonly { seq: number; ok: boolean }[], ledger: ExecutionLedger): PostSummary {
  let executed = 0;
  let duplicated = 0;
  let extraExecutions = 0;
  let executedButFailed = 0;
  for (const r of records) {
    const n = ledger.executions(`${client}-${r.seq}`);
    executed += n;
    if (n > 1) {
      duplicated++;
      extraExecutions += n - 1;
    }
    if (!r.ok && n > 0) executedButFailed++;
  }
  return { executed, duplicated, extraExecutions, executedButFailed };
}

/** 8080 when free on the lab's addresses, else a free ephemeral port. */
async function pickPodPort(): Promise<number> {
  for (const port of [preferredPodPort, 0]) {
    const server = createServer();
    try {
      server.listen(port, '127.0.100.1');
      await once(server, 'listening');
      const bound = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return bound;
    } catch {
      server.close();
    }
  }
  throw new Error('ridethrough-lab: could not find a free port on 127.0.100.1');
}

/**
 * Runs `cleanup` (synchronous) if the process exits or is interrupted while the lab runs; on SIGINT
 * or SIGTERM it then exits as the signal would have. Returns a function that removes the hooks.
 */
function cleanupOnExit(cleanup: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanup);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanup);
  };
}

function undiciVersion(): string {
  try {
    return (createRequire(import.meta.url)('undici/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
