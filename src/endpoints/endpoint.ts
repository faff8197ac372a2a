import type { Dispatcher } from 'undici';
import type { ResolvedAddress } from '../resolve/dns-cache.js';

/** A snapshot of one endpoint's health, as {@link ResilientAgent.stats} reports it. */
export interface EndpointStats {
  /** The endpoint IP address. */
  readonly address: string;
  /** `healthy`, or `ejected` while kept out of rotation. */
  readonly state: 'healthy' | 'ejected';
  /** Requests in flight on this endpoint now. */
  readonly inFlight: number;
  /** Attempts sent to this endpoint. */
  readonly attempts: number;
  /** Attempts that failed (connect errors, resets, timeouts, retryable statuses). */
  readonly failures: number;
  /** Failures in a row, reset by a success. */
  readonly consecutiveFailures: number;
  /** How many times the endpoint has been ejected. */
  readonly ejections: number;
  /** Epoch ms until which the endpoint is ejected (0 when healthy). */
  readonly ejectedUntil: number;
  /** Exponentially weighted moving average of time to response headers, in ms (0 before the first response). */
  readonly latencyMs: number;
}

/**
 * One address of a host, with its health and (for {@link ResilientAgent}) its own connection pool.
 * @internal
 */
export class Endpoint {
  /** Requests in flight. */
  inFlight = 0;
  /** Attempts sent. */
  attempts = 0;
  /** Failed attempts. */
  failures = 0;
  /** Failures in a row. */
  consecutiveFailures = 0;
  /** Times ejected. */
  ejections = 0;
  /** Ejected until (epoch ms). */
  ejectedUntil = 0;
  /** When the endpoint was last ejected (epoch ms). */
  lastEjectedAt = 0;
  /** EWMA of time to headers, ms. */
  latencyMs = 0;
  /** The connection pool for this address, created on first use by the agent. */
  pool: Dispatcher | undefined;
  /** Set by the pool's age timer (`maxConnectionAge`): the next request makes a new pool. */
  poolExpired = false;
  /** The pool's age timer (unref'd), while the pool is in use. */
  poolTimer: NodeJS.Timeout | undefined;

  /**
   * @param address - the IP address and family
   */
  constructor(readonly address: ResolvedAddress) {}

  /** Whether the endpoint is out of rotation at `now`. */
  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** Records a latency sample (EWMA, weight 0.3 for the new sample). */
  recordLatency(ms: number): void {
    this.latencyMs = this.latencyMs === 0 ? ms : this.latencyMs * 0.7 + ms * 0.3;
  }

  /** A snapshot for stats(). */
  snapshot(now: number): EndpointStats {
    return {
      address: this.address.address,
      state: this.isEjected(now) ? 'ejected' : 'healthy',
      inFlight: this.inFlight,
      attempts: this.attempts,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      ejections: this.ejections,
      ejectedUntil: this.isEjected(now) ? this.ejectedUntil : 0,
      latencyMs: Math.round(this.latencyMs * 100) / 100,
    };
  }
}
