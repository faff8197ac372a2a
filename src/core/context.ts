import { LRUCache } from 'lru-cache';
import type { Endpoint, EndpointStats } from '../endpoints/endpoint.js';
import { EndpointSet } from '../endpoints/endpoint-set.js';
import { SilenceWatchdog, type WatchedHost } from '../endpoints/silence-watchdog.js';
import { Deadlines } from '../timing/deadlines.js';
import { OriginBreaker } from '../health/circuit-breaker.js';
import { LatencyWindow } from '../health/latency-window.js';
import { RetryBudget } from '../health/retry-budget.js';
import { type DnsAnswer, DnsCache } from '../resolve/dns-cache.js';
import type { DiscoveryStatus, DiscoverySubscription } from '../resolve/discovery.js';
import type { ParsedOrigin } from './origin.js';
import { type ResilienceOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { longAgo, type MonotonicMs, monotonicNow } from '../timing/clock.js';

/** Per-origin state, as {@link ResilientAgent.stats} and {@link ResilienceInterceptor.stats} report it. */
export interface OriginStats {
  /** `protocol//host:port`. */
  readonly origin: string;
  /** The circuit breaker's state (`disabled` when breakers are off). */
  readonly breaker: 'closed' | 'open' | 'half-open' | 'disabled';
  /** While the breaker is open: when the next probe goes through (epoch ms). */
  readonly breakerRetryAt: number | undefined;
  /** Retries the budget still allows now (`undefined` when budgets are off). */
  readonly budgetAvailable: number | undefined;
  /** Retries the budget refused so far. */
  readonly budgetRefused: number;
  /** Median time to response headers over recent requests, in ms (undefined before any). */
  readonly latencyP50Ms: number | undefined;
  /** Requests parked now, waiting for an endpoint of this origin's host to become usable. */
  readonly waiting: number;
  /** The endpoints (resolved addresses) and their health. */
  readonly endpoints: readonly EndpointStats[];
  /** Where the endpoints come from now: `dns`, or the `discovery` source's name (`kubernetes`). */
  readonly endpointsFrom: string;
  /** The discovery source's watch of this host (state, lag), when the `discovery` option's source serves it. */
  readonly discovery: DiscoveryStatus | undefined;
}

/** What ridethrough keeps per origin: its endpoints, breaker, retry budget and recent latencies. @internal */
export interface OriginState extends WatchedHost {
  readonly key: string;
  readonly endpoints: EndpointSet;
  readonly breaker: OriginBreaker | undefined;
  readonly budget: RetryBudget | undefined;
  readonly latencies: LatencyWindow;
  /** The DNS answer last read for this origin, kept while the cache's generation is unchanged. */
  dnsAnswer: DnsAnswer | undefined;
  /** Until when {@link dnsAnswer} may be used without asking the cache again. */
  dnsFreshUntil: MonotonicMs;
  /** The DNS cache's generation when {@link dnsAnswer} was read. */
  dnsGeneration: number;
  /** The discovery source's answer while it governs this origin (undefined: DNS serves it). */
  discovered: DnsAnswer | undefined;
  /** The discovery source's watch of this origin's host, when it serves the host. */
  discovery: DiscoverySubscription | undefined;
}

/**
 * The state one agent (or interceptor, or TCP connector) keeps: validated options, the DNS cache and
 * the endpoints of each origin with their health. Get one from {@link ResilientAgent.context} and pass it
 * to `resilientConnect` or `createResilientLookup` to share them between HTTP and TCP clients.
 */
export class ResilienceContext {
  /** Validated options. @internal */
  readonly options: ResolvedOptions;
  /** The DNS cache. */
  readonly dns: DnsCache;
  /** Request deadlines (one timer per duration). @internal */
  readonly deadlines = new Deadlines();
  /** Attempts' time-to-headers timers (a queue of their own: it keeps its last duration at hand too). @internal */
  readonly attemptDeadlines = new Deadlines();
  /** Idle timers of response bodies (`bodyTimeout`), one entry per response being read. @internal */
  readonly bodyDeadlines = new Deadlines();
  /** Looks for silent endpoints while attempts are in flight (undefined when `silentEndpoint` is false). @internal */
  readonly watchdog: SilenceWatchdog | undefined;
  private readonly origins: LRUCache<string, OriginState>;
  private readonly removers = new Set<(endpoint: Endpoint) => void>();
  /** The origin asked for last and its state: most agents talk to one origin at a time. */
  private lastOrigin: ParsedOrigin | undefined;
  private lastState: OriginState | undefined;

  /**
   * @param options - user options; validated here
   */
  constructor(options: ResilienceOptions = {}) {
    this.options = resolveOptions(options);
    this.dns = new DnsCache(this.options.dns);
    this.origins = new LRUCache<string, OriginState>({
      // maxSize rather than max: lru-cache preallocates arrays of `max` slots, whatever the cache ever holds.
      maxSize: this.options.dns.maxHosts,
      sizeCalculation: () => 1,
      dispose: (state) => {
        if (this.lastState === state) this.lastOrigin = this.lastState = undefined;
        state.discovery?.close();
        state.endpoints.clear();
      },
    });
    const silent = this.options.silentEndpoint;
    this.watchdog = silent === false ? undefined : new SilenceWatchdog(() => this.origins.values(), silent);
  }

  /** Registers a callback run when an endpoint leaves its DNS answer or its origin is evicted. @internal */
  onEndpointRemoved(fn: (endpoint: Endpoint) => void): void {
    this.removers.add(fn);
  }

  /** The state of an origin, created on first use. @internal */
  originFor(origin: ParsedOrigin): OriginState {
    if (origin === this.lastOrigin) return this.lastState!;
    let state = this.origins.get(origin.key);
    if (!state) {
      const o = this.options;
      const hostname = origin.hostname;
      const latencies = new LatencyWindow();
      const endpoints: EndpointSet = new EndpointSet(
        hostname,
        o,
        (e) => {
          for (const fn of this.removers) fn(e);
        },
        // A fresh query while requests wait; its answer joins the set, which releases them when it adds an address.
        // Under a discovery source there is nothing to ask: the source pushes its changes.
        () => {
          if (endpoints.governed) return;
          (this.dns.revalidate(hostname) ?? this.dns.resolve(hostname)).then((answer) => endpoints.update(answer), noop);
        },
      );
      state = {
        key: origin.key,
        endpoints,
        p99: () => latencies.percentile(99),
        breaker: o.breaker === false ? undefined : new OriginBreaker(origin.key, o.breaker),
        budget: o.budget === false ? undefined : new RetryBudget(o.budget),
        latencies,
        dnsAnswer: undefined,
        dnsFreshUntil: longAgo,
        dnsGeneration: -1,
        discovered: undefined,
        discovery: undefined,
      };
      this.origins.set(origin.key, state);
      if (o.discovery !== undefined) this.subscribe(state, origin);
    }
    this.lastOrigin = origin;
    this.lastState = state;
    return state;
  }

  /**
   * The fresh DNS answer for an origin's host, or undefined (no query, no promise). The answer is kept
   * on the origin's state while the cache does not change, so the hot path skips the cache lookup.
   * @param now - now (the request flow has read the clock already)
   * @internal
   */
  freshAnswer(state: OriginState, hostname: string, now: MonotonicMs): DnsAnswer | undefined {
    if (state.discovered !== undefined) return state.discovered;
    if (state.dnsGeneration === this.dns.generation && now < state.dnsFreshUntil) return state.dnsAnswer;
    return this.readAnswer(state, hostname, now);
  }

  /**
   * {@link freshAnswer} once the answer kept on the state is stale or the cache changed: reads the cache
   * and keeps what it finds. A method of its own, run about once per TTL, so the rarely taken branch is
   * not inlined into the hot request path (docs/benchmarks.md, "The last few percent").
   */
  private readAnswer(state: OriginState, hostname: string, now: MonotonicMs): DnsAnswer | undefined {
    const dns = this.dns;
    const hit = dns.freshUntil(hostname, now);
    state.dnsAnswer = hit?.answer;
    state.dnsFreshUntil = hit ? hit.until : longAgo;
    state.dnsGeneration = dns.generation;
    return hit?.answer;
  }

  /**
   * Watches an origin's host through the `discovery` source. Its answers govern the endpoint set (DNS
   * answers are ignored meanwhile); when it gives up on the host, DNS takes over at once.
   */
  private subscribe(state: OriginState, origin: ParsedOrigin): void {
    const hostname = origin.hostname.toLowerCase().replace(/\.$/, '');
    const target = { hostname, port: origin.port, protocol: origin.protocol };
    state.discovery = this.options.discovery!.subscribe(target, (answer) => {
      state.discovered = answer;
      state.endpoints.governed = answer !== undefined;
      if (answer !== undefined) state.endpoints.update(answer);
      else this.dns.resolve(origin.hostname).then((a) => state.endpoints.update(a), noop);
    });
  }

  /** The endpoint set of an origin, created on first use. @internal */
  endpointsFor(origin: ParsedOrigin): EndpointSet {
    return this.originFor(origin).endpoints;
  }

  /** A snapshot of every origin's state, keyed by origin (`protocol//host:port`), as undici's `Agent.stats`. */
  get stats(): Record<string, OriginStats> {
    const now = monotonicNow();
    const out: Record<string, OriginStats> = {};
    for (const s of this.origins.values()) {
      out[s.key] = {
        origin: s.key,
        breaker: s.breaker?.state ?? 'disabled',
        breakerRetryAt: s.breaker?.retryAt,
        budgetAvailable: s.budget?.available(),
        budgetRefused: s.budget?.refused ?? 0,
        latencyP50Ms: s.latencies.percentile(50),
        waiting: s.endpoints.room.size,
        endpoints: [...s.endpoints.endpoints.values()].map((e) => e.snapshot(now)),
        endpointsFrom: s.discovered === undefined ? 'dns' : (s.discovery?.status().source ?? 'dns'),
        discovery: s.discovery?.status(),
      };
    }
    return out;
  }

  /** The endpoints of every origin with state, by origin key. @internal */
  *endpointsByOrigin(): IterableIterator<[string, Iterable<Endpoint>]> {
    for (const s of this.origins.values()) yield [s.key, s.endpoints.endpoints.values()];
  }

  /** Forgets all state; removal callbacks run for every endpoint. */
  close(): void {
    this.lastOrigin = this.lastState = undefined;
    this.watchdog?.stop();
    this.origins.clear();
    this.dns.close();
  }
}

function noop(): void {}
