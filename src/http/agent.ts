import type { LookupAddress, LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Dispatcher, Pool } from 'undici';
import { isModernHandler, type LegacyHandler, LegacyHandlerAdapter } from './legacy-handler.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { validateOverrides, type RequestOverrides, type ResilienceOptions } from '../core/options.js';
import { type OriginStats, ResilienceContext } from '../core/context.js';
import { urlHost, type ParsedOrigin } from './origin.js';
import { type AttemptTransport, type FlowExtras, RequestFlow, type ResilientDispatchOptions, undiciHeadersTimeout } from './request-flow.js';

/** Options of {@link ResilientAgent}. */
export type ResilientAgentOptions = ResilienceOptions;

const kDispatchWith = Symbol('ridethrough.dispatchWith');

/**
 * An undici `Dispatcher` that rides out a moved pod: it resolves host names through a short-TTL DNS
 * cache, keeps one connection pool per endpoint IP, retries failed attempts with jittered backoff on a
 * different endpoint within an overall deadline, and never re-sends a request that may have reached the
 * server unless it is idempotent.
 *
 * Works with undici's `request`/`stream`/`fetch`, with Node's built-in `fetch` on Node 22, 24 and 26
 * (it accepts both the undici 6/7 and the undici 8 handler shapes), and as the global dispatcher.
 *
 * @example
 * ```ts
 * import { request } from 'undici';
 * import { ResilientAgent } from 'ridethrough';
 * const agent = new ResilientAgent({ deadline: 15_000 });
 * const { statusCode, body } = await request('http://inventory.shop.svc.cluster.local:8080/items/42', { dispatcher: agent });
 * ```
 */
export class ResilientAgent extends Dispatcher {
  private readonly ctx: ResilienceContext;
  private readonly pools = new Set<Dispatcher>();
  private closed = false;
  private readonly transport: AttemptTransport;

  /**
   * @param options - see {@link ResilienceOptions}; validated here (throws `TypeError`/`RangeError` naming the option)
   */
  constructor(options: ResilientAgentOptions = {}) {
    super();
    this.ctx = new ResilienceContext(options);
    this.ctx.onEndpointRemoved((endpoint) => this.retirePool(endpoint));
    this.transport = {
      // Every pool is made with the body timeout and the undici headers timeout that goes with it (poolFor).
      appliesTimeouts: true,
      send: (origin, endpoint, opts, handler) => {
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
    const modern = isModernHandler(handler) ? handler : new LegacyHandlerAdapter(handler);
    if (this.closed) {
      const err = Object.assign(new Error('ridethrough: the agent is closed'), { code: 'UND_ERR_DESTROYED' });
      queueMicrotask(() => modern.onResponseError?.(null as never, err));
      return true;
    }
    let flow: RequestFlow;
    try {
      validateOverrides((options as ResilientDispatchOptions).ridethrough);
      flow = new RequestFlow(this.ctx, this.transport, options, modern, extras);
    } catch (err) {
      queueMicrotask(() => modern.onResponseError?.(null as never, err as Error));
      return true;
    }
    // Started synchronously, as undici's own dispatchers do: on a warm connection the request is on the
    // wire before dispatch() returns.
    flow.start();
    return true;
  }

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
   * `resilientConnect` or `createLookup` so TCP clients share them with this agent.
   */
  get context(): ResilienceContext {
    return this.ctx;
  }

  /** Per-origin state: breaker, budget, and per endpoint health, ejections, requests in flight and latency. */
  stats(): OriginStats[] {
    return this.ctx.stats();
  }

  /**
   * Closes every pool after in-flight requests finish.
   */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const p = this.shutdown((pool) => pool.close());
    if (callback) {
      p.then(() => callback(), () => callback());
      return;
    }
    return p;
  }

  /**
   * Destroys every pool at once, failing requests in flight.
   */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const p = this.shutdown((pool) => pool.destroy(err));
    if (cb) {
      p.then(() => cb(), () => cb());
      return;
    }
    return p;
  }

  private async shutdown(how: (pool: Dispatcher) => Promise<void>): Promise<void> {
    this.closed = true;
    const pools = [...this.pools];
    this.pools.clear();
    this.ctx.close();
    await Promise.all(pools.map((p) => how(p).catch(() => {})));
  }

  private poolFor(origin: ParsedOrigin, endpoint: Endpoint): Dispatcher {
    if (endpoint.pool) {
      // A flag the pool's age timer sets, not a clock read per request.
      if (!endpoint.poolExpired) return endpoint.pool;
      // maxConnectionAge: new requests go to a fresh pool (fresh connections, so a ClusterIP spreads them
      // over new pods); the old one closes once its requests are done.
      this.retirePool(endpoint);
    }
    const o = this.ctx.options;
    const { address, family } = endpoint.address;
    // The pool's origin keeps the host name, so undici writes the Host header and picks the TLS
    // servername itself (no per-request header to add and validate); the lookup pins it to this endpoint.
    const pool = new Pool(`${origin.protocol}//${urlHost(origin.hostname)}:${origin.port}`, {
      connect: {
        timeout: o.connectTimeout,
        lookup: pinnedLookup(address, family),
        ...(origin.protocol === 'https:' ? o.tls : {}),
      },
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 600_000),
      connections: o.connectionsPerEndpoint ?? null,
      // The attempt timeout is each attempt's own timer (AttemptHandler); undici's headers timeout equals
      // the body timeout, so its parser keeps one timer per response instead of making a second.
      headersTimeout: undiciHeadersTimeout(o.bodyTimeout, o.attemptTimeout),
      bodyTimeout: o.bodyTimeout,
    });
    endpoint.pool = pool;
    if (o.maxConnectionAge > 0) {
      // Jittered per pool (±10 %), so pools created together do not all reconnect at once.
      // retirePool() clears this timer (and the flag), so when it fires the pool is still this one.
      endpoint.poolTimer = setTimeout(() => {
        endpoint.poolTimer = undefined;
        endpoint.poolExpired = true;
      }, Math.round(o.maxConnectionAge * (0.9 + Math.random() * 0.2)));
      endpoint.poolTimer.unref();
    }
    this.pools.add(pool);
    return pool;
  }

  private retirePool(endpoint: Endpoint): void {
    const pool = endpoint.pool;
    if (!pool) return;
    endpoint.pool = undefined;
    endpoint.poolExpired = false;
    clearTimeout(endpoint.poolTimer);
    endpoint.poolTimer = undefined;
    this.pools.delete(pool);
    pool.close().catch(() => {});
  }
}

/**
 * A view of a {@link ResilientAgent} with fixed per-request extras. @internal
 */
export class ResilientView extends Dispatcher {
  /**
   * @param agent - the agent requests go through
   * @param extras - overrides and a replayable body
   */
  constructor(
    private readonly agent: ResilientAgent,
    private readonly extras: FlowExtras,
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agent[kDispatchWith](options, handler, this.extras);
  }

  /** A view does not own connections: closing it does nothing. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) {
      queueMicrotask(callback);
      return;
    }
    return Promise.resolve();
  }

  /** A view does not own connections: destroying it does nothing. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    if (cb) {
      queueMicrotask(cb);
      return;
    }
    return Promise.resolve();
  }
}

/** A `net.connect` lookup that answers every query with one address (net asks with `all: true` when it races families). */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as LookupAllOptions).all) (callback as (err: null, addresses: LookupAddress[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}
