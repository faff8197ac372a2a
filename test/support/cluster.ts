import diagnosticsChannel from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsServer, Pod, type PodBehaviour } from '@ridethrough/testbed';
import type { DnsOptions } from '../../src/resolve/dns-options.js';

export { sleep };

/**
 * A tiny "cluster" for tests: a real {@link DnsServer} standing in for cluster DNS, the pods started
 * through it, and everything else a test registers with {@link Cluster.defer}. {@link Cluster.close}
 * tears it all down, so one `afterEach(() => cluster?.close())` cleans up even when a test fails.
 */
export class Cluster {
  private readonly pods = new Set<Pod>();
  private readonly ports = new WeakMap<Pod, number>();
  private readonly cleanups: (() => unknown)[] = [];

  private constructor(readonly dns: DnsServer) {}

  /**
   * Starts the DNS server.
   * @param dnsAddress - loopback address for the DNS server (pick one in your own address range)
   */
  static async start(dnsAddress: string): Promise<Cluster> {
    const dns = new DnsServer({ address: dnsAddress, port: 0 });
    await dns.start();
    return new Cluster(dns);
  }

  /**
   * DNS options that point ridethrough at this cluster's DNS server only (never the machine's resolver).
   * @param extra - more DNS options (TTL bounds, timeouts, ...)
   */
  dnsOptions(extra: DnsOptions = {}): DnsOptions {
    return { servers: [this.dns.server], search: [], ...extra };
  }

  /**
   * Starts a pod; it is killed by {@link close}.
   * @param port - 0 for an ephemeral port (read it back with `pod.boundPort`)
   */
  async startPod(name: string, address: string, port: number, behaviour?: PodBehaviour): Promise<Pod> {
    const pod = new Pod(name, address, port, behaviour);
    this.pods.add(pod);
    await pod.start();
    this.ports.set(pod, pod.boundPort);
    return pod;
  }

  /** Starts a new pod on the address and port of `pod` (which must have been killed), with its behaviour. */
  async restartPod(pod: Pod, name = `${pod.name}-restarted`): Promise<Pod> {
    return this.startPod(name, pod.address, this.ports.get(pod) ?? pod.port, pod.behaviour);
  }

  /** Publishes `addresses` as the A records of `name`. */
  publish(name: string, addresses: string[], ttl: number): void {
    this.dns.setRecords(name, { a: addresses, ttl });
  }

  /** Registers a cleanup step run (last registered first) by {@link close}. */
  defer(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /** Runs the cleanups, kills every pod and stops the DNS server. Never throws. */
  async close(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Keep cleaning up.
      }
    }
    await Promise.all([...this.pods].map((p) => p.kill().catch(() => {})));
    this.pods.clear();
    await this.dns.stop();
  }
}

/** One request of a {@link steadyStream}. */
export interface StreamResult {
  /** When the request was sent, in ms since the stream started. */
  readonly at: number;
  /** How long it took, in ms. */
  readonly ms: number;
  /** The HTTP status, when a response arrived. */
  readonly status: number | undefined;
  /** The response body, when a response arrived. */
  readonly body: string | undefined;
  /** A description of the error (code chain), when the request failed. */
  readonly error: string | undefined;
  /** The error itself, when the request failed. */
  readonly cause: unknown;
}

/**
 * Sends requests at a fixed rate (open loop: a slow response does not delay the next request), for
 * `durationMs`, and resolves with every result once the last request has settled.
 * @param send - sends one request and returns its status and body
 * @param options - requests per second and how long to keep sending
 */
export async function steadyStream(
  send: () => Promise<{ status: number; body: string }>,
  options: { rate: number; durationMs: number },
): Promise<StreamResult[]> {
  const interval = 1000 / options.rate;
  const count = Math.floor(options.durationMs / interval);
  const started = performance.now();
  const pending: Promise<StreamResult>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const at = performance.now() - started;
    pending.push(
      send().then(
        (r) => ({ at, ms: performance.now() - started - at, status: r.status, body: r.body, error: undefined, cause: undefined }),
        (err: unknown) => ({ at, ms: performance.now() - started - at, status: undefined, body: undefined, error: describeError(err), cause: err }),
      ),
    );
  }
  return Promise.all(pending);
}

/**
 * Runs `steps` at the given times (ms from now), in order, while the caller runs something else.
 * Resolves when the last step is done; rejects with the first step's error.
 */
export async function script(steps: readonly (readonly [atMs: number, step: () => unknown])[]): Promise<void> {
  const started = performance.now();
  for (const [atMs, step] of steps) {
    const wait = started + atMs - performance.now();
    if (wait > 0) await sleep(wait);
    await step();
  }
}

/**
 * The pod the balancer favours right now: the one with the most requests since `since` (a snapshot
 * of counts). Killing it guarantees the dead address is tried again, whatever the balancing strategy.
 */
export function favourite(pods: readonly Pod[], since: readonly number[]): Pod {
  let best = pods[0]!;
  let bestDelta = -1;
  pods.forEach((p, i) => {
    const delta = p.count() - (since[i] ?? 0);
    if (delta > bestDelta) {
      best = p;
      bestDelta = delta;
    }
  });
  return best;
}

/**
 * Script steps that note each pod's count at `countAt` ms and kill, at `killAt` ms, the pod that served
 * the most requests in between (the balancer's favourite of the moment); `victim()` is that pod once killed.
 */
export function killFavourite(
  pods: readonly Pod[],
  countAt = 600,
  killAt = 1_000,
): { steps: (readonly [number, () => unknown])[]; victim: () => Pod | undefined } {
  let counts: number[] = [];
  let victim: Pod | undefined;
  return {
    steps: [
      [
        countAt,
        () => {
          counts = pods.map((p) => p.count());
        },
      ],
      [
        killAt,
        () => {
          victim = favourite(pods, counts);
          return victim.kill();
        },
      ],
    ],
    victim: () => victim,
  };
}

/** `name: message <- cause code ...`, for assertion messages. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== null && e !== undefined; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      parts.push(`${e.name}${typeof code === 'string' ? `[${code}]` : ''}: ${e.message}`);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' <- ');
}

/** Failures of a stream, summarised for assertion messages. */
export function failures(results: readonly StreamResult[]): string[] {
  return results.filter((r) => r.status !== 200).map((r) => `t=${Math.round(r.at)}ms ${r.status ?? r.error ?? ''}`);
}

/** A recorded diagnostics-channel message with the time it was published (`Date.now()`). */
export interface Recorded<T> {
  readonly at: number;
  readonly message: T;
}

/** Messages published on a diagnostics channel while recording; call `stop()` when done. */
export interface ChannelRecorder<T> {
  readonly events: Recorded<T>[];
  stop(): void;
}

/**
 * Calls `onMessage` synchronously (inside `publish`) with every message published on the
 * `node:diagnostics_channel` channel `name`, until the returned function is called.
 */
export function subscribeChannel<T>(name: string, onMessage: (message: T) => void): () => void {
  const listener = (message: unknown): void => onMessage(message as T);
  diagnosticsChannel.subscribe(name, listener);
  return () => {
    diagnosticsChannel.unsubscribe(name, listener);
  };
}

/** Starts recording every message published on the `node:diagnostics_channel` channel `name`. */
export function recordChannel<T>(name: string): ChannelRecorder<T> {
  const events: Recorded<T>[] = [];
  const stop = subscribeChannel<T>(name, (message) => {
    events.push({ at: Date.now(), message });
  });
  return { events, stop };
}

/** Connection attempts recorded by {@link recordConnections}. */
export interface ConnectionRecorder {
  /** Every TCP connection attempt: when it started and the IP address it dialled. */
  readonly events: Recorded<{ readonly address: string }>[];
  /** Connection attempts to `address` (within `[from, to)` epoch ms, when given). */
  count(address: string, from?: number, to?: number): number;
  /** Stops recording. */
  stop(): void;
}

/**
 * Records every TCP connection attempt this process makes, with the IP address dialled, from Node's
 * `net.client.socket` diagnostics channel: the address is the socket's `lookup` result (the agent's
 * pools keep the host name and pin the endpoint IP in their lookup), or its remote address for an IP.
 */
export function recordConnections(): ConnectionRecorder {
  const events: Recorded<{ address: string }>[] = [];
  const stop = subscribeChannel<{ socket: import('node:net').Socket }>('net.client.socket', ({ socket }) => {
    const at = Date.now();
    let seen = false;
    const note = (address: string | undefined): void => {
      if (seen || !address) return;
      seen = true;
      events.push({ at, message: { address } });
    };
    socket.once('lookup', (_err: Error | null, address: string) => note(address));
    socket.once('connect', () => note(socket.remoteAddress));
  });
  return {
    events,
    count: (address, from = -Infinity, to = Infinity) => events.filter((e) => e.message.address === address && e.at >= from && e.at < to).length,
    stop,
  };
}

/** Polls `condition` every 20 ms until it holds; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
