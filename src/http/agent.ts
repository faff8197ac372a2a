import { Dispatcher, errors } from 'undici';
import type { LegacyHandler } from './legacy-handler.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { validateOverrides, type RequestOverrides, type ResilienceOptions } from '../core/options.js';
import { type OriginStats, ResilienceContext } from '../core/context.js';
import { type ParsedOrigin, parseOrigin } from '../core/origin.js';
import type { AttemptTransport, FlowExtras } from './request-flow.js';
import { checkDispatchOrigin } from './dispatch-options.js';
import { dispatchFlow } from './dispatch-entry.js';
import { kDispatchWith, ResilientView } from './view.js';
import { splitAgentOptions, type UndiciAgentOptions, type UndiciSettings } from './undici-options.js';
import { EndpointPools, type PoolCounters } from './endpoint-pools.js';
import { H2WebSocketFallback } from './h2-websocket.js';
import { LiveRequests } from './live-requests.js';

export type { PoolCounters, UndiciAgentOptions };

/**
 * Options of {@link ResilientAgent}: undici's `Agent` options (each reaches every endpoint pool, validated
 * as undici validates it) plus ridethrough's. Where the two overlap, see docs/compatibility.md.
 */
export interface ResilientAgentOptions extends ResilienceOptions, UndiciAgentOptions {}

const { InvalidArgumentError, ClientClosedError, ClientDestroyedError } = errors;

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
  private readonly pools: EndpointPools;
  private readonly transport: AttemptTransport;
  /** The requests dispatched and not ended: close() waits for them. */
  private readonly live = new LiveRequests();
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
    const pools = (this.pools = new EndpointPools(this.ctx.options, undici, this));
    this.ctx.onEndpointRemoved((endpoint) => pools.retire(endpoint));
    this.transport = {
      // Every pool is made with the body timeout and the undici headers timeout that goes with it (makePool).
      appliesTimeouts: true,
      // The agent's own pools: one retired is replaced, so a closed one is no reason to give up.
      carrier: 'pool',
      live: this.live,
      send: (origin, endpoint, opts, handler) => {
        // One test of three fields keeps the common request on the short path.
        if (this.isDestroyed || (opts as { allowH2?: boolean }).allowH2 === false || opts.upgrade != null) {
          this.sendSpecial(origin, endpoint, opts, handler);
          return;
        }
        pools.poolFor(origin, endpoint).dispatch(opts, handler);
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
    if (this.pools.limitsOrigins) this.pools.checkOrigin(parseOrigin(options.origin!).key);
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
      for (const e of endpoints) this.pools.addCounters(sums, e);
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
   * Closes the agent gracefully, as undici's `close`: new requests fail with undici's `ClientClosedError`;
   * every request dispatched before is let finish (its response read to the end, or its final error
   * reported), those waiting to retry too: they keep retrying as usual, on new endpoints too, within their
   * own deadline. Then the pools close and the agent is destroyed; the promise resolves (the callback is
   * called) after that. A `destroy()` meanwhile fails them all at once.
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
    // The requests dispatched before close() first, those waiting to retry included: until the last one
    // ends, the pools stay open for their attempts. A destroy() meanwhile ends the wait (LiveRequests.flush).
    this.live.whenIdle(() => {
      void this.pools
        .closeAll()
        .then(() => this.destroy())
        .then(() =>
          queueMicrotask(() => {
            const callbacks = this.onClosed ?? [];
            this.onClosed = null;
            for (const cb of callbacks) cb(null, null);
          }),
        );
    });
  }

  /**
   * Destroys every pool at once, failing requests in flight and those waiting to retry with `err`
   * (undici's `ClientDestroyedError` when none is given), and forgets the agent's DNS and endpoint state.
   * A pending `close()` then resolves, after the destroy.
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
    // As undici fails the requests queued on a pool it destroys: those waiting to retry have nothing on the wire.
    this.live.cancelWaiting(err);
    const destroyed = this.pools.destroyAll(err);
    this.ctx.close();
    // A pending close() goes on now (it destroys nothing more, and calls back after this destroy), as undici's.
    this.live.flush();
    void destroyed.then(() =>
      queueMicrotask(() => {
        const callbacks = this.onDestroyed ?? [];
        this.onDestroyed = null;
        for (const c of callbacks) c(null, null);
      }),
    );
  }

  /** Attempts off the short path: after destroy(), `allowH2: false`, upgrades (a WebSocket may need an HTTP/1.1 fallback). */
  private sendSpecial(origin: ParsedOrigin, endpoint: Endpoint, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    if (this.isDestroyed) {
      handler.onResponseError?.(null as never, new ClientDestroyedError());
      return;
    }
    const mayUseH2 = origin.protocol === 'https:' ? this.undici.allowH2 : this.undici.h2c;
    const http1 = (opts as { allowH2?: boolean }).allowH2 === false && mayUseH2;
    if (http1) {
      this.pools.http1PoolFor(origin, endpoint).dispatch(opts, handler);
      return;
    }
    if (opts.upgrade === 'websocket' && mayUseH2) {
      const fallback = new H2WebSocketFallback(handler, (h) =>
        this.pools.http1PoolFor(origin, endpoint).dispatch({ ...opts, allowH2: false } as Dispatcher.DispatchOptions, h),
      );
      this.pools.poolFor(origin, endpoint).dispatch(opts, fallback);
      return;
    }
    this.pools.poolFor(origin, endpoint).dispatch(opts, handler);
  }
}

/** One origin in {@link ResilientAgent.stats}: ridethrough's state plus undici's pool counters, summed over the origin's endpoint pools. */
export type AgentOriginStats = OriginStats & Readonly<PoolCounters>;
