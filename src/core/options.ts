import type { ConnectionOptions } from 'node:tls';
import { checkArray, checkBoolean, checkKnownKeys, checkNumber, checkObject, checkOneOf } from '../utils/validate.js';
import type { BreakerOptions } from '../health/circuit-breaker.js';
import { type RetryBudgetOptions, budgetDefaults } from '../health/retry-budget.js';
import { type DnsOptions, validateDnsOptions } from '../resolve/dns-options.js';
import type { BackoffOptions } from '../policy/backoff.js';
import type { EjectionOptions } from '../endpoints/endpoint-set.js';
import type { SilentEndpointOptions } from '../endpoints/silence-watchdog.js';

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
  readonly retryStatuses?: readonly number[];
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

/** Fully resolved options. @internal */
export interface ResolvedOptions {
  deadline: number;
  maxAttempts: number;
  connectTimeout: number;
  attemptTimeout: number;
  bodyTimeout: number;
  backoff: Required<BackoffOptions>;
  retryStatuses: ReadonlySet<number>;
  maxRetryAfter: number;
  dns: DnsOptions;
  ejection: Required<EjectionOptions>;
  keepAliveTimeout: number;
  connectionsPerEndpoint: number | undefined;
  tls: ConnectionOptions | undefined;
  breaker: BreakerOptions | false;
  budget: Required<RetryBudgetOptions> | false;
  hedge: HedgeOptions | false;
  balancer: 'p2c' | 'round-robin';
  maxConnectionAge: number;
  reResolveWhileWaiting: number;
  silentEndpoint: Required<SilentEndpointOptions> | false;
}

/** The defaults, documented in docs/configuration.md. */
export const defaults = {
  deadline: 10_000,
  maxAttempts: 25,
  connectTimeout: 1_000,
  attemptTimeout: 5_000,
  bodyTimeout: 30_000,
  backoff: { jitter: 'full', base: 25, cap: 1_000 },
  retryStatuses: [502, 503, 504],
  maxRetryAfter: 5_000,
  ejection: { baseTime: 10_000, maxTime: 120_000, maxPercent: 50, consecutiveFailures: 5 },
  keepAliveTimeout: 4_000,
  breaker: { mode: 'consecutive', threshold: 5, halfOpenAfter: 5_000 },
  budget: budgetDefaults,
  balancer: 'p2c',
  maxConnectionAge: 60_000,
  reResolveWhileWaiting: 50,
  silentEndpoint: { after: 200, latencyMultiple: 4 },
} as const;

const topKeys = ['deadline', 'maxAttempts', 'connectTimeout', 'attemptTimeout', 'bodyTimeout', 'backoff', 'retryStatuses', 'maxRetryAfter', 'dns', 'ejection', 'keepAliveTimeout', 'connectionsPerEndpoint', 'tls', 'breaker', 'budget', 'hedge', 'balancer', 'maxConnectionAge', 'reResolveWhileWaiting', 'silentEndpoint'];

/**
 * Validates options and fills in defaults. Throws `TypeError`/`RangeError` naming the option.
 * @internal
 */
export function resolveOptions(options: ResilienceOptions = {}): ResolvedOptions {
  checkObject('options', options);
  checkKnownKeys('', options, topKeys);
  checkNumber('deadline', options.deadline, 1, 3_600_000, { unit: 'milliseconds' });
  checkNumber('maxAttempts', options.maxAttempts, 1, 1000, { integer: true });
  checkNumber('connectTimeout', options.connectTimeout, 1, 600_000, { unit: 'milliseconds' });
  checkNumber('attemptTimeout', options.attemptTimeout, 1, 3_600_000, { unit: 'milliseconds' });
  checkNumber('bodyTimeout', options.bodyTimeout, 0, 3_600_000, { unit: 'milliseconds' });
  checkObject('backoff', options.backoff);
  checkKnownKeys('backoff', options.backoff, ['jitter', 'base', 'cap']);
  checkOneOf('backoff.jitter', options.backoff?.jitter, ['full', 'decorrelated']);
  checkNumber('backoff.base', options.backoff?.base, 1, 60_000, { unit: 'milliseconds' });
  checkNumber('backoff.cap', options.backoff?.cap, 1, 60_000, { unit: 'milliseconds' });
  const backoff = { ...defaults.backoff, ...options.backoff };
  if (backoff.cap < backoff.base) {
    throw new RangeError(`ridethrough: option "backoff.cap" must be at least backoff.base (${backoff.base}), got ${backoff.cap}`);
  }
  checkArray('retryStatuses', options.retryStatuses, (s) => typeof s === 'number' && !Number.isNaN(s), 'integer HTTP statuses from 400 to 599');
  for (const s of options.retryStatuses ?? []) {
    if (!Number.isInteger(s) || s < 400 || s > 599) {
      throw new RangeError(`ridethrough: option "retryStatuses" must be an array of integer HTTP statuses from 400 to 599, got ${s}`);
    }
  }
  checkNumber('maxRetryAfter', options.maxRetryAfter, 0, 3_600_000, { unit: 'milliseconds' });
  validateDnsOptions(options.dns);
  checkObject('ejection', options.ejection);
  checkKnownKeys('ejection', options.ejection, ['baseTime', 'maxTime', 'maxPercent', 'consecutiveFailures']);
  checkNumber('ejection.baseTime', options.ejection?.baseTime, 100, 3_600_000, { unit: 'milliseconds' });
  checkNumber('ejection.maxTime', options.ejection?.maxTime, 100, 3_600_000, { unit: 'milliseconds' });
  checkNumber('ejection.maxPercent', options.ejection?.maxPercent, 0, 100);
  checkNumber('ejection.consecutiveFailures', options.ejection?.consecutiveFailures, 1, 1000, { integer: true });
  const ejection = { ...defaults.ejection, ...options.ejection };
  if (ejection.maxTime < ejection.baseTime) {
    throw new RangeError(`ridethrough: option "ejection.maxTime" must be at least ejection.baseTime (${ejection.baseTime}), got ${ejection.maxTime}`);
  }
  checkNumber('keepAliveTimeout', options.keepAliveTimeout, 1, 600_000, { unit: 'milliseconds' });
  checkNumber('connectionsPerEndpoint', options.connectionsPerEndpoint, 1, 65_535, { integer: true });
  checkObject('tls', options.tls);
  validateBreaker(options.breaker);
  if (options.budget !== false) {
    checkObject('budget', options.budget);
    checkKnownKeys('budget', options.budget, ['ratio', 'minPerSecond', 'window']);
    checkNumber('budget.ratio', options.budget?.ratio, 0, 10);
    checkNumber('budget.minPerSecond', options.budget?.minPerSecond, 0, 10_000);
    checkNumber('budget.window', options.budget?.window, 1_000, 600_000, { unit: 'milliseconds' });
  }
  validateHedge('hedge', options.hedge);
  checkOneOf('balancer', options.balancer, ['p2c', 'round-robin']);
  checkNumber('maxConnectionAge', options.maxConnectionAge, 0, 86_400_000, { unit: 'milliseconds' });
  if (options.maxConnectionAge !== undefined && options.maxConnectionAge > 0 && options.maxConnectionAge < 1_000) {
    throw new RangeError(`ridethrough: option "maxConnectionAge" must be 0 (never) or from 1000 to 86400000 milliseconds, got ${options.maxConnectionAge}`);
  }
  checkNumber('reResolveWhileWaiting', options.reResolveWhileWaiting, 10, 10_000, { unit: 'milliseconds' });
  if (options.silentEndpoint !== false) {
    checkObject('silentEndpoint', options.silentEndpoint);
    checkKnownKeys('silentEndpoint', options.silentEndpoint, ['after', 'latencyMultiple']);
    checkNumber('silentEndpoint.after', options.silentEndpoint?.after, 10, 600_000, { unit: 'milliseconds' });
    checkNumber('silentEndpoint.latencyMultiple', options.silentEndpoint?.latencyMultiple, 1, 100);
  }
  return {
    deadline: options.deadline ?? defaults.deadline,
    maxAttempts: options.maxAttempts ?? defaults.maxAttempts,
    connectTimeout: options.connectTimeout ?? defaults.connectTimeout,
    attemptTimeout: options.attemptTimeout ?? defaults.attemptTimeout,
    bodyTimeout: options.bodyTimeout ?? defaults.bodyTimeout,
    backoff,
    retryStatuses: new Set(options.retryStatuses ?? defaults.retryStatuses),
    maxRetryAfter: options.maxRetryAfter ?? defaults.maxRetryAfter,
    dns: options.dns ?? {},
    ejection,
    keepAliveTimeout: options.keepAliveTimeout ?? defaults.keepAliveTimeout,
    connectionsPerEndpoint: options.connectionsPerEndpoint,
    tls: options.tls,
    // The consecutive default threshold (5 requests) is no ratio: sampling mode defaults to 0.5.
    breaker: options.breaker === false ? false : { ...defaults.breaker, ...(options.breaker?.mode === 'sampling' ? { threshold: 0.5 } : {}), ...options.breaker },
    budget: options.budget === false ? false : { ...budgetDefaults, ...options.budget },
    hedge: options.hedge ?? false,
    balancer: options.balancer ?? defaults.balancer,
    maxConnectionAge: options.maxConnectionAge ?? defaults.maxConnectionAge,
    reResolveWhileWaiting: options.reResolveWhileWaiting ?? defaults.reResolveWhileWaiting,
    silentEndpoint: options.silentEndpoint === false ? false : { ...defaults.silentEndpoint, ...options.silentEndpoint },
  };
}

function validateBreaker(breaker: BreakerOptions | false | undefined): void {
  if (breaker === false || breaker === undefined) return;
  checkObject('breaker', breaker);
  checkKnownKeys('breaker', breaker, ['mode', 'threshold', 'duration', 'minimumRps', 'halfOpenAfter']);
  checkOneOf('breaker.mode', breaker.mode, ['consecutive', 'sampling']);
  if (breaker.mode === 'sampling') checkNumber('breaker.threshold', breaker.threshold, 0.01, 1);
  else checkNumber('breaker.threshold', breaker.threshold, 1, 1000, { integer: true });
  checkNumber('breaker.duration', breaker.duration, 1_000, 600_000, { unit: 'milliseconds' });
  checkNumber('breaker.minimumRps', breaker.minimumRps, 0, 100_000);
  checkNumber('breaker.halfOpenAfter', breaker.halfOpenAfter, 100, 600_000, { unit: 'milliseconds' });
}

function validateHedge(name: string, hedge: HedgeOptions | false | undefined): void {
  if (hedge === false || hedge === undefined) return;
  checkObject(name, hedge);
  checkKnownKeys(name, hedge, ['delay', 'percentile', 'minDelay', 'maxHedges']);
  checkNumber(`${name}.delay`, hedge.delay, 1, 600_000, { unit: 'milliseconds' });
  checkNumber(`${name}.percentile`, hedge.percentile, 50, 99.9);
  checkNumber(`${name}.minDelay`, hedge.minDelay, 0, 600_000, { unit: 'milliseconds' });
  checkNumber(`${name}.maxHedges`, hedge.maxHedges, 1, 5, { integer: true });
}

/**
 * Validates per-request overrides. Throws `TypeError`/`RangeError` naming the option.
 * @internal
 */
export function validateOverrides(overrides: RequestOverrides | undefined): void {
  if (overrides === undefined) return;
  checkObject('ridethrough', overrides);
  checkKnownKeys('ridethrough', overrides, ['deadline', 'maxAttempts', 'attemptTimeout', 'idempotent', 'hedge']);
  validateHedge('ridethrough.hedge', overrides.hedge);
  checkNumber('ridethrough.deadline', overrides.deadline, 1, 3_600_000, { unit: 'milliseconds' });
  checkNumber('ridethrough.maxAttempts', overrides.maxAttempts, 1, 1000, { integer: true });
  checkNumber('ridethrough.attemptTimeout', overrides.attemptTimeout, 1, 3_600_000, { unit: 'milliseconds' });
  checkBoolean('ridethrough.idempotent', overrides.idempotent);
}
