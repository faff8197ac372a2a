import { Dispatcher, errors } from 'undici';
import type { LegacyHandler } from './legacy-handler.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { validateOverrides, type RequestOverrides, type ResilienceOptions } from '../core/options.js';
import { type OriginStats, ResilienceContext } from '../core/context.js';
import { type ParsedOrigin, parseOrigin } from '../core/origin.js';
import { type AttemptTransport, type FlowExtras, undiciHeadersTimeout } from './request-flow.js';
import { checkDispatchOrigin } from './dispatch-options.js';
import { dispatchFlow } from './dispatch-entry.js';
import { kDispatchWith, ResilientView } from './view.js';
import { endpointConnect, preciseConnector, splitAgentOptions, type UndiciAgentOptions, type UndiciSettings } from './undici-options.js';
import { H2WebSocketFallback } from './h2-websocket.js';

export type { UndiciAgentOptions };

/**
 * Options of {@link ResilientAgent}: undici's `Agent` options (each reaches every endpoint pool, validated
 * as undici validates it) plus ridethrough's. Where the two overlap, see docs/compatibility.md.
 */
export interface ResilientAgentOptions extends ResilienceOptions, UndiciAgentOptions {}

const { InvalidArgumentError, ClientClosedError, ClientDestroyedError, MaxOriginsReachedError } = errors;
const noop = (): void => {};

/** undici's close/destroy callback. */
type Done = (err: Error | null, data: null) => void;

/**
 * An undici `Dispatcher` that rides out a moved pod: it resolves host names through a short-TTL DNS
 * cache, keeps one connection pool per endpoint IP, retries failed attempts with jittered backoff on a
 * different endpoint within an overall deadline, and never re-sends a request that may have reached the
 * server unless it is idempotent.
 *
 * A drop-in for undici's `Agent`: it takes the same options (`new ResilientAgent(opts)` wherever
 * `new Agent(opts)` stands), validates requests as undici does, and works with undici's
 * `request`/`stream`/`pipeline`/`upgrade`/`connect`/`fetch`, WebSocket and EventSource, with Node's
 * built-in `fetch` on Node 22, 24 and 26 (it accepts both the undici 6/7 and the undici 8 handler
 * shapes), and as the global dispatcher. The differences are listed in docs/compatibility.md.
 *
 * @example
 * ```ts
 * import { request } from 'undici';
 * import { ResilientAgent } from 'ridethrough';
 * const agent = new ResilientAgent({ deadline: 15_000, connect: { ca } });
 * const { statusCode, body } = await request('http://inventory.shop.svc.cluster.local:8080/items/42', { dispatcher: agent });
 * ```
 */
export class ResilientAgent extends Dispatcher {
  private readonly ctx: ResilienceContext;
  private readonly undici: UndiciSettings;
  private readonly pools = new Set<Dispatcher>();
  /** HTTP/1.1-only pools, for requests with `allowH2: false` while the agent's own pools may use HTTP/2. */
  private readonly http1Pools = new Map<Endpoint, Dispatcher>();
  /** The pools of each origin, kept only under a finite `maxOrigins`. */
  private readonly originPools: Map<string, Set<Dispatcher>> | undefined;
  private readonly transport: AttemptTransport;
  /** close() was called. */
  private isClosed = false;
  /** destroy() was called (close() ends with it, as undici's does). */
  private isDestroyed = false;
  private onClosed: Done[] | null = null;
  private onDestroyed: Done[] | null = null;

  /**
   * @param options - undici's Agent options and ridethrough's ({@link ResilienceOptions}); undici's are
   *   validated as undici validates them (`InvalidArgumentError`), ridethrough's throw `TypeError`/`RangeError` naming the option
   */
  constructor(options: ResilientAgentOptions = {}) {
    super();
    const { resilience, undici } = splitAgentOptions(options as Readonly<Record<string, unknown>>);
    this.ctx = new ResilienceContext(resilience);
    this.undici = undici;
    this.originPools = undici.maxOrigins === Infinity ? undefined : new Map();
    this.ctx.onEndpointRemoved((endpoint) => this.retirePool(endpoint));
    this.transport = {
      // Every pool is made with the body timeout and the undici headers timeout that goes with it (makePool).
      appliesTimeouts: true,
      send: (origin, endpoint, opts, handler) => {
        // One test of three fields keeps the common request on the short path.
        if (this.isClosed || (opts as { allowH2?: boolean }).allowH2 === false || opts.upgrade != null) {
          this.sendSpecial(origin, endpoint, opts, handler);
          return;
        }
        this.poolFor(origin, endpoint).dispatch(opts, handler);
      },
    };
  }

  /**
   * Dispatches a request (the undici `Dispatcher` contract). Returns `true`: ridethrough queues
   * internally, so callers never need to wait for `'drain'`.
   */
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this[kDispatchWith](options, handler, undefined);
  }

  /** @internal */
  [kDispatchWith](options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler | LegacyHandler, extras: FlowExtras | undefined): boolean {
    return dispatchFlow(this.ctx, this.transport, options, handler, extras, this.checkDispatcher);
  }

  /** The agent's own checks, where undici's Agent makes them: destroyed, closed, then the origin. */
  private readonly checkDispatcher = (options: Dispatcher.DispatchOptions): void => {
    if (this.isDestroyed) throw new ClientDestroyedError();
    if (this.isClosed) throw new ClientClosedError();
    checkDispatchOrigin(options.origin);
    if (this.originPools !== undefined) this.checkOrigins(options.origin!);
  };

  /**
   * A dispatcher that sends through this agent with per-request overrides, for callers that cannot pass
   * extra options (Node's built-in `fetch`, SDKs that take a dispatcher). Note that a `fetch` hands the
   * dispatcher every body as a one-shot stream: such a body is only re-sent when it was never read
   * (connect failures), whatever `idempotent` says. `resilientFetch` keeps bodies replayable.
   *
   * @example
   * ```ts
   * await fetch(url, { dispatcher: agent.with({ deadline: 3_000, hedge: { delay: 50 } }) });
   * ```
   */
  with(overrides: RequestOverrides): Dispatcher {
    validateOverrides(overrides);
    return new ResilientView(this, { overrides });
  }

  /**
   * The agent's state (options, DNS cache, endpoint health, breakers and budgets). Pass it to
   * `resilientConnect` or `createResilientLookup` so TCP clients share them with this agent.
   */
  get context(): ResilienceContext {
    return this.ctx;
  }

  /**
   * Per-origin state keyed by origin, as undici's `Agent.stats`: undici's pool counters summed over the
   * origin's endpoint pools, plus breaker, budget, and per endpoint health, ejections, requests in flight
   * and latency.
   */
  get stats(): Record<string, AgentOriginStats> {
    const out: Record<string, AgentOriginStats> = {};
    const origins = this.ctx.stats;
    for (const [key, endpoints] of this.ctx.endpointsByOrigin()) {
      const sums = { connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 };
      for (const e of endpoints) {
        addPoolStats(sums, e.pool);
        addPoolStats(sums, this.http1Pools.get(e));
      }
      out[key] = { ...origins[key]!, ...sums };
    }
    return out;
  }

  /** `true` once `close()` or `destroy()` was called (undici's `Agent.closed`). */
  get closed(): boolean {
    return this.isClosed;
  }

  /** `true` once `destroy()` was called, or `close()` has finished (undici's `Agent.destroyed`). */
  get destroyed(): boolean {
    return this.isDestroyed;
  }

  /** The WebSocket limits undici's WebSocket reads from its dispatcher (the `webSocket` option, undici's defaults). */
  get webSocketOptions(): { maxFragments: number; maxPayloadSize: number } {
    return (this.undici.reference as unknown as { webSocketOptions: { maxFragments: number; maxPayloadSize: number } }).webSocketOptions;
  }

  /** The EventSource limits undici's EventSource reads from its dispatcher (the `eventSource` option, undici's defaults). */
  get eventSourceOptions(): { maxEventSize: number } {
    return (this.undici.reference as unknown as { eventSourceOptions: { maxEventSize: number } }).eventSourceOptions;
  }

  /**
   * Closes every pool after the requests on them finish, then destroys the agent (as undici's `close`).
   * A request waiting to retry when it is called makes its next attempt on a connection closed right
   * after it, until the close has finished; after that it fails with undici's `ClientDestroyedError`.
   */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback === undefined) {
      return new Promise<void>((resolve, reject) => this.close(((err: Error | null) => (err ? reject(err) : resolve())) as () => void));
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback');
    const done = callback as Done;
    if (this.isDestroyed) {
      const err = new ClientDestroyedError();
      queueMicrotask(() => done(err, null));
      return;
    }
    if (this.isClosed) {
      if (this.onClosed) this.onClosed.push(done);
      else queueMicrotask(() => done(null, null));
      return;
    }
    this.isClosed = true;
    this.onClosed = [done];
    void Promise.all([...this.pools].map((p) => p.close().catch(noop)))
      .then(() => this.destroy())
      .then(() =>
        queueMicrotask(() => {
          const callbacks = this.onClosed ?? [];
          this.onClosed = null;
          for (const cb of callbacks) cb(null, null);
        }),
      );
  }

  /**
   * Destroys every pool at once, failing requests in flight with `err` (undici's `ClientDestroyedError`
   * when none is given), and forgets the agent's DNS and endpoint state.
   */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    let err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    if (cb === undefined) {
      return new Promise<void>((resolve, reject) => this.destroy(err, ((e: Error | null) => (e ? reject(e) : resolve())) as () => void));
    }
    if (typeof cb !== 'function') throw new InvalidArgumentError('invalid callback');
    const done = cb as Done;
    if (this.isDestroyed) {
      if (this.onDestroyed) this.onDestroyed.push(done);
      else queueMicrotask(() => done(null, null));
      return;
    }
    err ??= new ClientDestroyedError();
    this.isDestroyed = true;
    this.onDestroyed = [done];
    const pools = [...this.pools];
    this.pools.clear();
    this.http1Pools.clear();
    this.originPools?.clear();
    this.ctx.close();
    void Promise.all(pools.map((p) => p.destroy(err).catch(noop))).then(() =>
      queueMicrotask(() => {
        const callbacks = this.onDestroyed ?? [];
        this.onDestroyed = null;
        for (const c of callbacks) c(null, null);
      }),
    );
  }

  /** undici's `maxOrigins`: a request to a new origin fails while that many origins have pools. */
  private checkOrigins(origin: string | URL): void {
    const key = parseOrigin(origin).key;
    if (this.originPools!.size >= this.undici.maxOrigins && !this.originPools!.has(key)) throw new MaxOriginsReachedError();
  }

  /** Attempts off the short path: after close(), `allowH2: false`, upgrades (a WebSocket may need an HTTP/1.1 fallback). */
  private sendSpecial(origin: ParsedOrigin, endpoint: Endpoint, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    if (this.isDestroyed) {
      handler.onResponseError?.(null as never, new ClientDestroyedError());
      return;
    }
    const mayUseH2 = origin.protocol === 'https:' ? this.undici.allowH2 : this.undici.h2c;
    const http1 = (opts as { allowH2?: boolean }).allowH2 === false && mayUseH2;
    if (this.isClosed) {
      // Closing: the pools are draining; this attempt gets a connection of its own, closed once it is done.
      const pool = this.makePool(origin, endpoint, http1, true);
      pool.dispatch(opts, handler);
      pool.close().catch(noop);
      return;
    }
    if (http1) {
      this.http1PoolFor(origin, endpoint).dispatch(opts, handler);
      return;
    }
    if (opts.upgrade === 'websocket' && mayUseH2) {
      const fallback = new H2WebSocketFallback(handler, (h) => this.http1PoolFor(origin, endpoint).dispatch({ ...opts, allowH2: false } as Dispatcher.DispatchOptions, h));
      this.poolFor(origin, endpoint).dispatch(opts, fallback);
      return;
    }
    this.poolFor(origin, endpoint).dispatch(opts, handler);
  }

  private poolFor(origin: ParsedOrigin, endpoint: Endpoint): Dispatcher {
    if (endpoint.pool) {
      // A flag the pool's age timer sets, not a clock read per request.
      if (!endpoint.poolExpired) return endpoint.pool;
      // maxConnectionAge: new requests go to a fresh pool (fresh connections, so a ClusterIP spreads them
      // over new pods); the old one closes once its requests are done.
      this.retirePool(endpoint);
    }
    const pool = this.makePool(origin, endpoint, false, false);
    endpoint.pool = pool;
    const age = this.ctx.options.maxConnectionAge;
    if (age > 0) {
      // Jittered per pool (±10 %), so pools created together do not all reconnect at once.
      // retirePool() clears this timer (and the flag), so when it fires the pool is still this one.
      endpoint.poolTimer = setTimeout(() => {
        endpoint.poolTimer = undefined;
        endpoint.poolExpired = true;
      }, Math.round(age * (0.9 + Math.random() * 0.2)));
      endpoint.poolTimer.unref();
    }
    return pool;
  }

  private http1PoolFor(origin: ParsedOrigin, endpoint: Endpoint): Dispatcher {
    let pool = this.http1Pools.get(endpoint);
    if (!pool) {
      pool = this.makePool(origin, endpoint, true, false);
      this.http1Pools.set(endpoint, pool);
    }
    return pool;
  }

  /**
   * One endpoint's dispatcher, made as undici's Agent makes an origin's (its factory, its options) with
   * ridethrough's connect settings, timeouts and connection limit, and the endpoint pinned.
   * @param http1 - HTTP/1.1 only (`allowH2: false`)
   * @param temporary - closed by the caller once its request is done: not tracked
   */
  private makePool(origin: ParsedOrigin, endpoint: Endpoint, http1: boolean, temporary: boolean): Dispatcher {
    const o = this.ctx.options;
    const u = this.undici;
    const { address, family } = endpoint.address;
    const keepAliveMaxTimeout = u.poolOptions.keepAliveMaxTimeout as number | null | undefined;
    // The pool's origin keeps the host name, so undici writes the Host header and picks the TLS
    // servername itself (no per-request header to add and validate); the connect settings pin it to this endpoint.
    const pool = u.factory(`${origin.protocol}//${origin.host}`, {
      ...u.poolOptions,
      ...(http1 ? { allowH2: false } : undefined),
      connect: precise(endpointConnect(u.connect, origin.protocol === 'https:' ? o.tls : undefined, o.connectTimeout, address, family), u.poolOptions, http1, o.connectTimeout),
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: keepAliveMaxTimeout ?? Math.max(o.keepAliveTimeout, 600_000),
      connections: o.connectionsPerEndpoint ?? null,
      // The attempt timeout is each attempt's own timer (AttemptHandler); undici's headers timeout equals
      // the body timeout, so its parser keeps one timer per response instead of making a second.
      headersTimeout: undiciHeadersTimeout(o.bodyTimeout, o.attemptTimeout),
      bodyTimeout: o.bodyTimeout,
    });
    // undici's Agent re-emits its pools' events with itself first among the targets.
    const events = this as unknown as NodeJS.EventEmitter;
    for (const name of ['connect', 'disconnect', 'connectionError', 'drain']) {
      (pool as unknown as NodeJS.EventEmitter).on(name, (url: URL, targets: readonly Dispatcher[] = [], ...rest: unknown[]) => events.emit(name, url, [this, ...targets], ...rest));
    }
    if (temporary) return pool;
    this.pools.add(pool);
    const originPools = this.originPools;
    if (originPools !== undefined) {
      let set = originPools.get(origin.key);
      if (!set) originPools.set(origin.key, (set = new Set()));
      set.add(pool);
      // As undici's Agent, an origin whose connections are all gone and which has nothing to do leaves the count.
      pool.on('disconnect', () => {
        const stats = (pool as { stats?: { connected?: number; pending?: number; running?: number } }).stats;
        if (stats && stats.connected === 0 && stats.pending === 0 && stats.running === 0) this.retireOne(endpoint, pool);
      });
    }
    return pool;
  }

  private retirePool(endpoint: Endpoint): void {
    const http1 = this.http1Pools.get(endpoint);
    if (http1) this.retireOne(endpoint, http1);
    const pool = endpoint.pool;
    if (pool) this.retireOne(endpoint, pool);
  }

  /** Takes one of an endpoint's pools out of use; it closes once its requests are done. */
  private retireOne(endpoint: Endpoint, pool: Dispatcher): void {
    if (endpoint.pool === pool) {
      endpoint.pool = undefined;
      endpoint.poolExpired = false;
      clearTimeout(endpoint.poolTimer);
      endpoint.poolTimer = undefined;
    } else if (this.http1Pools.get(endpoint) === pool) {
      this.http1Pools.delete(endpoint);
    } else {
      return;
    }
    this.pools.delete(pool);
    if (this.originPools !== undefined) {
      for (const [key, set] of this.originPools) {
        if (set.delete(pool) && set.size === 0) this.originPools.delete(key);
      }
    }
    pool.close().catch(noop);
  }
}

/** A `connect` given as options becomes undici's connector with ridethrough's precise timer; a caller's function stays as it is. */
function precise(connect: ReturnType<typeof endpointConnect>, poolOptions: Readonly<Record<string, unknown>>, http1: boolean, timeoutMs: number): ReturnType<typeof endpointConnect> {
  return typeof connect === 'function' ? connect : preciseConnector(connect, poolOptions, http1, timeoutMs);
}

/** undici's per-pool counters (`Pool.stats`; a `Client` has no `free` or `queued`). */
export interface PoolCounters {
  /** Connections open. */
  connected: number;
  /** Open connections with no request on them. */
  free: number;
  /** Requests queued or running. */
  pending: number;
  /** Requests waiting for a connection. */
  queued: number;
  /** Requests being processed. */
  running: number;
  /** Requests the pools hold (pending + running). */
  size: number;
}

/** One origin in {@link ResilientAgent.stats}: ridethrough's state plus undici's pool counters, summed over the origin's endpoint pools. */
export type AgentOriginStats = OriginStats & Readonly<PoolCounters>;

/** Adds a pool's undici counters to `sums`. */
function addPoolStats(sums: PoolCounters, pool: Dispatcher | undefined): void {
  const stats = (pool as { stats?: Partial<PoolCounters> } | undefined)?.stats;
  if (!stats) return;
  for (const k of ['connected', 'free', 'pending', 'queued', 'running', 'size'] as const) sums[k] += stats[k] ?? 0;
}
