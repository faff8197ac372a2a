// A little over the ~350 lines files here aim at: every option of the agent in one place (its type and
// JSDoc, gathered from the tables next to each concept), which the docs' tables and validation are built from.
import type { ConnectionOptions } from 'node:tls';
import { type BackoffOptions, backoffOptions } from '../policy/backoff.js';
import { type EjectionOptions, ejectionOptions } from '../endpoints/ejection.js';
import { type SilentEndpointOptions, silentEndpointOptions } from '../endpoints/silence-watchdog.js';
import { type BreakerOptions, breakerOptions } from '../health/circuit-breaker.js';
import { type RetryBudgetOptions, budgetOptions } from '../health/retry-budget.js';
import { type DnsOptions, type ResolvedDnsOptions, dnsOptions, resolveDnsOptions } from '../resolve/dns-options.js';
import { type DiscoverySource, isDiscoverySource } from '../resolve/discovery.js';
import { type OptionGroup, type OptionRule, bool, checkGroup, custom, group, list, millis, num, oneOf, resolveGroup } from '../utils/option-table.js';
import { checkNumber, checkObject } from '../utils/validate.js';
import { errors } from 'undici';

export type { BackoffOptions, EjectionOptions, SilentEndpointOptions };

/** Hedging: send the same idempotent request to a second endpoint when the first is slow to answer. */
export interface HedgeOptions {
  /** Send a hedge after this many ms without response headers. Default 100. Range 1–600000. */
  readonly delay?: number;
  /**
   * Use this percentile (50–99.9) of the origin's recent time-to-headers as the delay instead, once 20
   * samples exist (`delay` until then, and never below `minDelay`).
   */
  readonly percentile?: number;
  /** Shortest delay when `percentile` is used, in ms. Default 5. Range 0–600000. */
  readonly minDelay?: number;
  /** Most hedges per request. Default 1. Range 1–5. */
  readonly maxHedges?: number;
}

/** Options of {@link ResilientAgent}, {@link resilience} and {@link createResilientFetch}. All durations in milliseconds. */
export interface ResilienceOptions {
  /**
   * Overall deadline for a request, across every attempt and backoff, until response headers arrive.
   * Default 10000: covers endpoint propagation (1–3 s) plus CoreDNS's default TTL (5 s). Use ~35000 for
   * kubeadm clusters whose CoreDNS caches 30 s. Range 1–3600000.
   */
  readonly deadline?: number;
  /** Most attempts per request, the first included. Default 25; the deadline is the usual limit. Range 1–1000. */
  readonly maxAttempts?: number;
  /** Per-attempt TCP/TLS connect timeout. Default 1000 (undici: 10000). Range 1–600000. */
  readonly connectTimeout?: number;
  /** Per-attempt wait for response headers once the request is on a connection. Default 5000 (undici: 300000). Range 1–3600000. */
  readonly attemptTimeout?: number;
  /** Idle time allowed between body chunks once the response has started. Default 30000 (undici: 300000). Range: integer 0 (off)–3600000. */
  readonly bodyTimeout?: number;
  /** Retry backoff. */
  readonly backoff?: BackoffOptions;
  /** Response statuses retried for idempotent requests. Default `[502, 503, 504]`; 429 is retried when it carries `Retry-After`. */
  readonly statusCodes?: readonly number[];
  /** Longest `Retry-After` honoured, in ms; a longer one ends the retries. Default 5000. Range 0–3600000. */
  readonly maxRetryAfter?: number;
  /** DNS cache and resolver settings. */
  readonly dns?: DnsOptions;
  /** Per-endpoint ejection. */
  readonly ejection?: EjectionOptions;
  /** Idle keep-alive connections are closed after this long. Default 4000 (below Node's server default of 5000). Range 1–600000. */
  readonly keepAliveTimeout?: number;
  /** Most connections per endpoint address. Default unlimited. Range 1–65535. */
  readonly connectionsPerEndpoint?: number;
  /**
   * Per-origin circuit breaker (cockatiel), or `false` to disable. Default: consecutive, 5 unhealthy
   * requests in a row, probe after 5 s.
   */
  readonly breaker?: BreakerOptions | false;
  /** Per-origin retry budget, or `false` to disable. Default: 20 % of requests plus 10 retries/s over 10 s. */
  readonly budget?: RetryBudgetOptions | false;
  /** Hedging for idempotent requests, or `false` (the default). Hedges are paid from the retry budget. */
  readonly hedge?: HedgeOptions | false;
  /** How an endpoint is chosen: `p2c` (power of two choices on requests in flight, the default) or `round-robin`. */
  readonly balancer?: 'p2c' | 'round-robin';
  /**
   * Keep-alive connections are retired after this age (±10 % jitter per endpoint pool), so traffic through a
   * ClusterIP spreads onto new pods after a scale-up. Default 60000. Range 1000–86400000, or 0 for never.
   */
  readonly maxConnectionAge?: number;
  /**
   * While requests wait for an endpoint of a host (none usable now), the host name is re-queried this
   * often, ±20 % jitter, one query at a time: at most 1.25 / interval queries per second per host and
   * address family (25/s at the default). Default 50. Range 10–10000.
   */
  readonly reResolveWhileWaiting?: number;
  /**
   * Silent-endpoint detection, or `false` to turn it off: an endpoint whose attempts get no response
   * headers for max(`after`, `latencyMultiple` × the origin's p99) while another endpoint of the host
   * answered meanwhile is ejected, and idempotent requests waiting on it are re-sent elsewhere (paid
   * from the retry budget). Default `{ after: 200, latencyMultiple: 4 }`.
   */
  readonly silentEndpoint?: SilentEndpointOptions | false;
  /** TLS options for https origins (`ca`, `cert`, `key`, `rejectUnauthorized`, ...). The servername is always the request's host name. */
  readonly tls?: ConnectionOptions;
  /**
   * A source of endpoints ahead of DNS for the hosts it serves, e.g. `kubernetesEndpoints()` from
   * `ridethrough/kubernetes` (docs/kubernetes.md). DNS serves every other host, and any host whenever
   * the source cannot. Default: none (DNS only).
   */
  readonly discovery?: DiscoverySource;
}

/** Per-request overrides, through `ridethrough` in `resilientFetch`/`request()` options, or {@link ResilientAgent.with}. */
export interface RequestOverrides {
  /** Overall deadline for this request, in ms. */
  readonly deadline?: number;
  /** Most attempts for this request. */
  readonly maxAttempts?: number;
  /** Per-attempt headers timeout for this request, in ms. */
  readonly attemptTimeout?: number;
  /** Hedging for this request (`false` to turn off an agent-wide setting). */
  readonly hedge?: HedgeOptions | false;
  /**
   * Force the request to count as idempotent (`true`: retried after it may have reached the server)
   * or not (`false`: retried only when it surely did not). Default: by method and `Idempotency-Key`.
   */
  readonly idempotent?: boolean;
}

/** Fully resolved options: every default filled in (each field as {@link ResilienceOptions} documents it). */
export interface ResolvedOptions {
  /** See {@link ResilienceOptions.deadline}. */
  deadline: number;
  /** See {@link ResilienceOptions.maxAttempts}. */
  maxAttempts: number;
  /** See {@link ResilienceOptions.connectTimeout}. */
  connectTimeout: number;
  /** See {@link ResilienceOptions.attemptTimeout}. */
  attemptTimeout: number;
  /** See {@link ResilienceOptions.bodyTimeout}. */
  bodyTimeout: number;
  /** See {@link ResilienceOptions.backoff}. */
  backoff: Required<BackoffOptions>;
  /** See {@link ResilienceOptions.statusCodes}. */
  statusCodes: ReadonlySet<number>;
  /** See {@link ResilienceOptions.maxRetryAfter}. */
  maxRetryAfter: number;
  /** See {@link ResilienceOptions.dns}. */
  dns: ResolvedDnsOptions;
  /** See {@link ResilienceOptions.ejection}. */
  ejection: Required<EjectionOptions>;
  /** See {@link ResilienceOptions.keepAliveTimeout}. */
  keepAliveTimeout: number;
  /** See {@link ResilienceOptions.connectionsPerEndpoint} (undefined: unlimited). */
  connectionsPerEndpoint: number | undefined;
  /** See {@link ResilienceOptions.tls}. */
  tls: ConnectionOptions | undefined;
  /** See {@link ResilienceOptions.breaker}. */
  breaker: Required<BreakerOptions> | false;
  /** See {@link ResilienceOptions.budget}. */
  budget: Required<RetryBudgetOptions> | false;
  /** See {@link ResilienceOptions.hedge}. */
  hedge: ResolvedHedge | false;
  /** See {@link ResilienceOptions.balancer}. */
  balancer: 'p2c' | 'round-robin';
  /** See {@link ResilienceOptions.maxConnectionAge}. */
  maxConnectionAge: number;
  /** See {@link ResilienceOptions.reResolveWhileWaiting}. */
  reResolveWhileWaiting: number;
  /** See {@link ResilienceOptions.silentEndpoint}. */
  silentEndpoint: Required<SilentEndpointOptions> | false;
  /** See {@link ResilienceOptions.discovery}. */
  discovery: DiscoverySource | undefined;
}

/** Hedge options with every default filled in (`percentile` stays optional). */
export type ResolvedHedge = Required<Omit<HedgeOptions, 'percentile'>> & Pick<HedgeOptions, 'percentile'>;

/** The `hedge` option's rules (also per request). @internal */
export const hedgeOptions: OptionGroup<HedgeOptions> = {
  table: {
    delay: millis(
      1,
      600_000,
      100,
      'Time without response headers after which the same request goes to another endpoint; the first response wins, the other is aborted.',
    ),
    percentile: num(50, 99.9, undefined, "Use this percentile of the origin's recent time to headers as the delay instead, once 20 samples exist."),
    minDelay: millis(0, 600_000, 5, 'Shortest delay when `percentile` is used.'),
    maxHedges: num(1, 5, 1, 'Most hedges per request.', { integer: true }),
  },
};

const isStatus = (s: unknown): boolean => typeof s === 'number' && !Number.isNaN(s);

/** The rules behind {@link ResilienceOptions}: checks, defaults and the docs table (docs/configuration.md). @internal */
export const resilienceOptions: OptionGroup<ResilienceOptions> = {
  table: {
    deadline: millis(
      1,
      3_600_000,
      10_000,
      "Overall time for a request across all attempts and backoff, until response headers. Covers endpoint propagation (1–3 s) plus CoreDNS's 5 s TTL. **kubeadm clusters** (`ttl 30`, `cache 30` in the Corefile): 35000, or lower CoreDNS's cache.",
    ),
    maxAttempts: num(1, 1000, 25, 'Attempts per request, the first included. The deadline is the usual limit; this caps the work.', { integer: true }),
    connectTimeout: millis(
      1,
      600_000,
      1_000,
      "Per-attempt TCP (and TLS) connect timeout, on a timer of ridethrough's own (undici's fires up to half a second late). In-cluster connects take well under a millisecond; a connect that takes a second is a dead node dropping SYNs. undici's default is 10000.",
    ),
    attemptTimeout: millis(
      1,
      3_600_000,
      5_000,
      "Per-attempt wait for response headers, counted from when the attempt is dispatched (connecting and waiting for a free connection included). undici's `headersTimeout` counts from when the request is written and defaults to 300000. An attempt that times out on a connection fails with `UND_ERR_HEADERS_TIMEOUT` and may have reached the server; one still connecting or queued never left, so it goes to another endpoint whatever its method. Raise it for endpoints that legitimately take longer. A caller's undici `headersTimeout` in the dispatch options sets it for that request, and so does `ridethrough.attemptTimeout`.",
    ),
    bodyTimeout: custom(
      checkBodyTimeout,
      30_000,
      "Idle time allowed between response body chunks (0 = off), on a timer of ridethrough's own: it fires at most an eighth of the timeout, and at most a second, late (undici's own fires up to a second late); time the caller keeps the response paused does not count. A fraction is refused with undici's `InvalidArgumentError`, as undici's `Agent` refuses it, by every API.",
      {
        defaultText: '30000',
        rangeText: 'integer 0–3600000',
      },
    ),
    backoff: group(backoffOptions, 'Retry backoff.', { on: true }),
    statusCodes: custom(checkStatuses, new Set([502, 503, 504]), 'Statuses retried for idempotent requests. 429 is retried when it has `Retry-After`.', {
      defaultText: '`[502, 503, 504]`',
      rangeText: 'statuses 400–599',
    }),
    maxRetryAfter: millis(
      0,
      3_600_000,
      5_000,
      'Longest `Retry-After` honoured; a longer one hands the response to the caller. The wait holds whichever endpoint the retry goes to: a `Retry-After` speaks for the service (rate limits are usually shared), not for one pod.',
    ),
    dns: custom(() => undefined, undefined, 'DNS cache and resolver settings (below).', { defaultText: 'on', rangeText: 'object' }),
    ejection: group(ejectionOptions, 'Per-endpoint ejection.', { on: true }),
    keepAliveTimeout: millis(
      1,
      600_000,
      4_000,
      "Idle keep-alive connections are closed after this. Below Node's server default (5000) so the client, not the server, closes idle sockets, avoiding the keep-alive race.",
    ),
    connectionsPerEndpoint: num(
      1,
      65_535,
      undefined,
      "Most connections per endpoint IP. Unlimited by default, as undici's `Agent` (`connections: null`): a limit would queue bursts behind slow requests, and the server's own backlog and `maxConnections` are the place to cap them. When the limit is reached, requests queue in the endpoint's pool; one still queued when its `attemptTimeout` passes never left, so it moves to another endpoint whatever its method. undici's `connections` sets it.",
      { integer: true, defaultText: 'unlimited', rangeText: '1–65535' },
    ),
    tls: custom(checkObject, undefined, "CA, client certificate, `rejectUnauthorized` for https origins. The servername is always the request's host name.", {
      defaultText: 'none',
      rangeText: '`tls.ConnectionOptions`',
    }),
    breaker: group(
      breakerOptions,
      "Per-origin circuit breaker (cockatiel's breaker strategies). Counts whole requests after retries: unhealthy when the request reached endpoints and still failed, or got a final 502/503/504. Never 4xx, DNS failures or caller aborts. Open: `CircuitOpenError` at once.",
      {
        on: true,
        off: true,
        defaultText: 'consecutive, 5, 5000',
      },
    ),
    budget: group(
      budgetOptions,
      'Retry budget per origin (Finagle, Linkerd). Retries that may load the server (after a reset, a timeout or a 5xx) and hedges are charged; retries of connects that failed are free. Each request counts once towards the volume, when it ends (answered or failed). When spent: `BudgetExhaustedError`, or the 5xx response itself.',
      {
        on: true,
        off: true,
        defaultText: '0.2, 10/s, 10000',
      },
    ),
    hedge: group(
      hedgeOptions,
      'Hedging for idempotent requests, paid from the retry budget. Off by default: the silent-endpoint detector is the adaptive hedge that acts on evidence (docs/guide.md).',
      { off: true },
    ),
    balancer: oneOf(
      ['p2c', 'round-robin'],
      'p2c',
      "Power of two choices on requests in flight: the endpoint next in rotation against one picked at random, fewer in flight wins, a tie goes to the rotation's (so even load spreads like round-robin, and a slow endpoint loses every comparison it is drawn into); or plain round-robin.",
    ),
    maxConnectionAge: millis(
      0,
      86_400_000,
      60_000,
      'Connections are retired after this age (±10 % per endpoint pool), so traffic through a ClusterIP spreads onto new pods after a scale-up. 0 = never.',
      {
        rangeText: '0 or 1000–86400000',
      },
    ),
    reResolveWhileWaiting: millis(
      10,
      10_000,
      50,
      "While requests wait for an endpoint of a host (none usable now: every address refused, ejected, or DNS has no answer yet), the host is re-queried this often (±20 % jitter, one query at a time, bypassing the cache's TTL), so a new pod is used within one interval of DNS publishing it. Bound: at most 1.25 / interval re-queries per second per host and address family (25/s by default), and none while nobody waits.",
    ),
    silentEndpoint: group(silentEndpointOptions, 'Silent-endpoint detection, or `false` to turn it off.', { on: true, off: true, defaultText: '200 / 4' }),
    discovery: custom(
      checkDiscovery,
      undefined,
      "A source of endpoints ahead of DNS for the hosts it serves: `kubernetesEndpoints()` from `ridethrough/kubernetes` reads a Service's EndpointSlices (docs/kubernetes.md). DNS serves every other host, and any host while the source cannot.",
      {
        defaultText: 'none',
        rangeText: 'discovery source',
      },
    ),
  },
  relations: (o, path) => {
    if (o.maxConnectionAge > 0 && o.maxConnectionAge < 1_000) {
      throw new RangeError(
        `ridethrough: option "${path('maxConnectionAge')}" must be 0 (never) or from 1000 to 86400000 milliseconds, got ${o.maxConnectionAge}`,
      );
    }
  },
};

/** undici takes whole milliseconds and refuses a fraction with its own error: every API refuses it the same way. */
function checkBodyTimeout(path: string, value: unknown): void {
  checkNumber(path, value, 0, 3_600_000, { unit: 'milliseconds' });
  if (value !== undefined && !Number.isInteger(value)) throw new errors.InvalidArgumentError('bodyTimeout must be a positive integer or zero');
}

function checkDiscovery(path: string, value: unknown): void {
  if (value !== undefined && !isDiscoverySource(value)) {
    throw new TypeError(
      `ridethrough: option "${path}" must be a discovery source (such as kubernetesEndpoints() from ridethrough/kubernetes), got ${value === null ? 'null' : typeof value}`,
    );
  }
}

function checkStatuses(path: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every(isStatus)) {
    list(isStatus, 'integer HTTP statuses from 400 to 599', undefined, '').check(path, value);
  }
  for (const s of value as number[]) {
    if (!Number.isInteger(s) || s < 400 || s > 599) {
      throw new RangeError(`ridethrough: option "${path}" must be an array of integer HTTP statuses from 400 to 599, got ${s}`);
    }
  }
}

/** The defaults, as resolved options (documented in docs/configuration.md). */
export const defaults: Readonly<ResolvedOptions> = Object.freeze(resolveOptions());

/**
 * Validates options and fills in defaults. Throws `TypeError`/`RangeError` naming the option.
 * @internal
 */
export function resolveOptions(options: ResilienceOptions = {}): ResolvedOptions {
  const o = resolveGroup<ResilienceOptions, Omit<ResolvedOptions, 'dns' | 'statusCodes'> & { statusCodes: ReadonlySet<number> | readonly number[] }>(
    resilienceOptions,
    options,
  );
  const statusCodes = o.statusCodes instanceof Set ? o.statusCodes : new Set(o.statusCodes);
  return { ...o, statusCodes, dns: resolveDnsOptions(options.dns) };
}

/** The rules of per-request overrides. @internal */
export const overrideOptions: OptionGroup<RequestOverrides> = {
  table: {
    deadline: resilienceOptions.table.deadline,
    maxAttempts: resilienceOptions.table.maxAttempts,
    attemptTimeout: resilienceOptions.table.attemptTimeout,
    hedge: resilienceOptions.table.hedge,
    idempotent: bool(undefined, 'Force the request to count as idempotent or not. Default: by method and `Idempotency-Key`.', { defaultText: 'by method' }),
  },
};

/**
 * A per-request `hedge` override with the defaults filled in (validated already by {@link validateOverrides}).
 * @internal
 */
export function resolveHedge(hedge: HedgeOptions): ResolvedHedge {
  return resolveGroup<HedgeOptions, ResolvedHedge>(hedgeOptions, hedge, 'ridethrough.hedge');
}

/**
 * Validates per-request overrides. Throws `TypeError`/`RangeError` naming the option.
 * @internal
 */
export function validateOverrides(overrides: RequestOverrides | undefined): void {
  // Nearly every request has none: a check the hot path inlines, not a call.
  if (overrides !== undefined) checkGroup(overrideOptions, overrides, 'ridethrough');
}

/** Every documented option group, by the heading its table goes under in docs/configuration.md. @internal */
export const documentedOptions: Readonly<Record<string, OptionGroup<object>>> = {
  'request-path': resilienceOptions as OptionGroup<object>,
  dns: dnsOptions as OptionGroup<object>,
};

export type { OptionRule };
