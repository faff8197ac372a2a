import { type Dispatcher, errors } from 'undici';
import type { ResolvedOptions } from '../core/options.js';
import type { ParsedOrigin } from '../core/origin.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { atPort, endpointConnect, preciseConnector, type UndiciSettings } from './undici-options.js';

const { MaxOriginsReachedError } = errors;
const noop = (): void => {};

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

/**
 * An endpoint's pools, kept in the endpoint's `pool` slot (one field read per request, no map lookup).
 * The endpoints layer knows nothing of undici: the slot is typed `unknown` there.
 */
interface PoolSlot {
  /** The pool new requests go to, while it is younger than `maxConnectionAge`. */
  current: Dispatcher | undefined;
  /** Set by the current pool's age timer: the next request makes a new pool. */
  expired: boolean;
  /** The current pool's age timer (unref'd). */
  timer: NodeJS.Timeout | undefined;
  /** HTTP/1.1-only pool, for requests with `allowH2: false` while the agent's own pools may use HTTP/2. */
  http1: Dispatcher | undefined;
}

/**
 * The agent's connection pools: one per endpoint IP (and one HTTP/1.1-only pool where asked for), made
 * as undici's Agent makes an origin's, retired when they reach `maxConnectionAge` or their endpoint
 * leaves DNS, and counted per origin for undici's `maxOrigins`.
 * @internal
 */
export class EndpointPools {
  /** Every pool in use, for close() and destroy(). */
  private readonly all = new Set<Dispatcher>();
  /** Pools taken out of use that are still closing (finishing their requests): destroy() ends them too, close() waits for them. */
  private readonly retiring = new Set<Dispatcher>();
  /** The pools of each origin, kept only under a finite `maxOrigins`. */
  private readonly byOrigin: Map<string, Set<Dispatcher>> | undefined;

  /**
   * @param options - the agent's resolved options
   * @param undici - undici's options as the agent split them
   * @param emitter - the agent: re-emits its pools' events with itself first among the targets
   */
  constructor(
    private readonly options: ResolvedOptions,
    private readonly undici: UndiciSettings,
    private readonly emitter: Dispatcher,
  ) {
    this.byOrigin = undici.maxOrigins === Infinity ? undefined : new Map();
  }

  /** Whether `maxOrigins` is finite (so dispatch checks the origin count). */
  get limitsOrigins(): boolean {
    return this.byOrigin !== undefined;
  }

  /** undici's `maxOrigins`: a request to a new origin fails while that many origins have pools. */
  checkOrigin(key: string): void {
    if (this.byOrigin!.size >= this.undici.maxOrigins && !this.byOrigin!.has(key)) throw new MaxOriginsReachedError();
  }

  /** The endpoint's pool for new requests: made on first use, and again once the current one is too old. */
  poolFor(origin: ParsedOrigin, endpoint: Endpoint): Dispatcher {
    const slot = endpoint.pool as PoolSlot | undefined;
    // A flag the pool's age timer sets, not a clock read per request.
    if (slot?.current !== undefined && !slot.expired) return slot.current;
    return this.freshPool(origin, endpoint, slotOf(endpoint));
  }

  /** The endpoint's HTTP/1.1-only pool. */
  http1PoolFor(origin: ParsedOrigin, endpoint: Endpoint): Dispatcher {
    const slot = slotOf(endpoint);
    slot.http1 ??= this.makePool(origin, endpoint, true);
    return slot.http1;
  }

  /** Takes the endpoint's pools out of use (its address left DNS); they close once their requests are done. */
  retire(endpoint: Endpoint): void {
    const slot = endpoint.pool as PoolSlot | undefined;
    if (slot === undefined) return;
    if (slot.http1) this.retireOne(endpoint, slot.http1);
    if (slot.current) this.retireOne(endpoint, slot.current);
  }

  /** Adds the endpoint's pools' undici counters to `sums`. */
  addCounters(sums: PoolCounters, endpoint: Endpoint): void {
    const slot = endpoint.pool as PoolSlot | undefined;
    addPoolStats(sums, slot?.current);
    addPoolStats(sums, slot?.http1);
  }

  /** Closes every pool once its requests are done (retired ones still closing included). */
  closeAll(): Promise<unknown> {
    return Promise.all([...this.all, ...this.retiring].map((p) => p.close().catch(noop)));
  }

  /** Destroys every pool at once (retired ones still closing included), failing the requests on them with `err`. */
  destroyAll(err: Error): Promise<unknown> {
    const pools = [...this.all, ...this.retiring];
    this.all.clear();
    this.retiring.clear();
    this.byOrigin?.clear();
    return Promise.all(pools.map((p) => p.destroy(err).catch(noop)));
  }

  private freshPool(origin: ParsedOrigin, endpoint: Endpoint, slot: PoolSlot): Dispatcher {
    // maxConnectionAge: new requests go to a fresh pool (fresh connections, so a ClusterIP spreads them
    // over new pods); the old one closes once its requests are done.
    if (slot.current) this.retireOne(endpoint, slot.current);
    const pool = this.makePool(origin, endpoint, false);
    slot.current = pool;
    const age = this.options.maxConnectionAge;
    if (age > 0) {
      // Jittered per pool (±10 %), so pools created together do not all reconnect at once.
      // retireOne() clears this timer (and the flag), so when it fires the pool is still this one.
      slot.timer = setTimeout(
        () => {
          slot.timer = undefined;
          slot.expired = true;
        },
        Math.round(age * (0.9 + Math.random() * 0.2)),
      );
      slot.timer.unref();
    }
    return pool;
  }

  /**
   * One endpoint's dispatcher, made as undici's Agent makes an origin's (its factory, its options) with
   * ridethrough's connect settings, timeouts and connection limit, and the endpoint pinned.
   * @param http1 - HTTP/1.1 only (`allowH2: false`)
   */
  private makePool(origin: ParsedOrigin, endpoint: Endpoint, http1: boolean): Dispatcher {
    const o = this.options;
    const u = this.undici;
    const { address, family, port } = endpoint.address;
    const keepAliveMaxTimeout = u.poolOptions.keepAliveMaxTimeout as number | null | undefined;
    const connect = endpointConnect(u.connect, origin.protocol === 'https:' ? o.tls : undefined, o.connectTimeout, address, family);
    // The pool's origin keeps the host name, so undici writes the Host header and picks the TLS
    // servername itself (no per-request header to add and validate); the connect settings pin it to this endpoint.
    const pool = u.factory(`${origin.protocol}//${origin.host}`, {
      ...u.poolOptions,
      ...(http1 ? { allowH2: false } : undefined),
      // A `connect` given as options gets ridethrough's precise timer; a caller's function stays as it is.
      // A discovered endpoint's own port (a Service's targetPort) when it has one.
      connect: atPort(typeof connect === 'function' ? connect : preciseConnector(connect, u.poolOptions, http1, o.connectTimeout), port),
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: keepAliveMaxTimeout ?? Math.max(o.keepAliveTimeout, 600_000),
      connections: o.connectionsPerEndpoint ?? null,
      // The attempt and body timeouts are each attempt's own timers (AttemptHandler): undici's are off.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    // undici's Agent re-emits its pools' events with itself first among the targets.
    const events = this.emitter as unknown as NodeJS.EventEmitter;
    for (const name of ['connect', 'disconnect', 'connectionError', 'drain']) {
      (pool as unknown as NodeJS.EventEmitter).on(name, (url: URL, targets: readonly Dispatcher[] = [], ...rest: unknown[]) =>
        events.emit(name, url, [this.emitter, ...targets], ...rest),
      );
    }
    this.all.add(pool);
    const byOrigin = this.byOrigin;
    if (byOrigin !== undefined) {
      let set = byOrigin.get(origin.key);
      if (!set) byOrigin.set(origin.key, (set = new Set()));
      set.add(pool);
      // As undici's Agent, an origin whose connections are all gone and which has nothing to do leaves the count.
      pool.on('disconnect', () => {
        const stats = (pool as { stats?: { connected?: number; pending?: number; running?: number } }).stats;
        if (stats && stats.connected === 0 && stats.pending === 0 && stats.running === 0) this.retireOne(endpoint, pool);
      });
    }
    return pool;
  }

  /** Takes one of an endpoint's pools out of use; it closes once its requests are done. */
  private retireOne(endpoint: Endpoint, pool: Dispatcher): void {
    const slot = endpoint.pool as PoolSlot | undefined;
    if (slot?.current === pool) {
      slot.current = undefined;
      slot.expired = false;
      clearTimeout(slot.timer);
      slot.timer = undefined;
    } else if (slot?.http1 === pool) {
      slot.http1 = undefined;
    } else {
      return;
    }
    this.all.delete(pool);
    if (this.byOrigin !== undefined) {
      for (const [key, set] of this.byOrigin) {
        if (set.delete(pool) && set.size === 0) this.byOrigin.delete(key);
      }
    }
    const retiring = this.retiring;
    retiring.add(pool);
    const closed = (): boolean => retiring.delete(pool);
    pool.close().then(closed, closed);
  }
}

function slotOf(endpoint: Endpoint): PoolSlot {
  let slot = endpoint.pool as PoolSlot | undefined;
  if (slot === undefined) endpoint.pool = slot = { current: undefined, expired: false, timer: undefined, http1: undefined };
  return slot;
}

/** Adds a pool's undici counters to `sums` (a `Client`'s `connected` is a boolean: it counts as 0 or 1). */
function addPoolStats(sums: PoolCounters, pool: Dispatcher | undefined): void {
  const stats = (pool as { stats?: Partial<Record<keyof PoolCounters, number | boolean>> } | undefined)?.stats;
  if (!stats) return;
  for (const k of ['connected', 'free', 'pending', 'queued', 'running', 'size'] as const) sums[k] += Number(stats[k] ?? 0);
}
