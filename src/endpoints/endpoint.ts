import type { ResolvedAddress } from '../resolve/dns-cache.js';
import { type EpochMs, longAgo, type MonotonicMs } from '../timing/clock.js';

/** A snapshot of one endpoint's health, as {@link ResilientAgent.stats} reports it. */
export interface EndpointStats {
  /** The endpoint IP address. */
  readonly address: string;
  /** `healthy`, or `ejected` while kept out of rotation. */
  readonly state: 'healthy' | 'ejected';
  /** Why the endpoint was last ejected (an error code, `HTTP <status>` or `silent`), while it is ejected. */
  readonly ejectedFor: string | undefined;
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
  /** The endpoint's own port when a discovery source gave one (else the origin's port is used). */
  readonly port: number | undefined;
  /** A discovery source reports it terminating: it keeps its requests in flight but gets new ones only when nothing else is left. */
  readonly terminating: boolean;
}

/**
 * An attempt in flight on an endpoint, as the endpoint sees it: linked into the endpoint's list in start
 * order (no allocation), so the oldest is at hand for silence detection.
 * @internal
 */
export interface InFlightAttempt {
  /** When the attempt was sent. */
  readonly startedAt: MonotonicMs;
  /** Called when the endpoint is ejected or found silent while this attempt is on it. */
  endpointLost(reason: string): void;
  /** @internal */ inFlightPrev: InFlightAttempt | undefined;
  /** @internal */ inFlightNext: InFlightAttempt | undefined;
}

/**
 * One address of a host, with its health and (for {@link ResilientAgent}) a slot for its connection pools.
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
  /** Ejected until ({@link longAgo}: not ejected). */
  ejectedUntil: MonotonicMs = longAgo;
  /** The same moment on the wall clock, for stats (read once at the ejection, so the time shown does not move). */
  ejectedUntilEpoch = 0 as EpochMs;
  /** When the endpoint was last ejected. */
  lastEjectedAt: MonotonicMs = longAgo;
  /** Why it was last ejected. */
  ejectedFor: string | undefined = undefined;
  /** EWMA of time to headers, ms. */
  latencyMs = 0;
  /** When this endpoint last answered with response headers; {@link longAgo} before. */
  lastAnsweredAt: MonotonicMs = longAgo;
  /** The oldest attempt in flight that is linked here (HTTP attempts), and the newest. */
  oldest: InFlightAttempt | undefined = undefined;
  private newest: InFlightAttempt | undefined = undefined;
  /**
   * The HTTP agent's connection pools for this address (`http/endpoint-pools.ts` owns what is in it):
   * kept here so a request reaches its pool with one field read, not a map lookup.
   */
  pool: unknown = undefined;
  /** Terminating (from a discovery source): out of rotation while another endpoint is left. */
  terminating: boolean;

  /**
   * @param address - the IP address and family (and, from a discovery source, its port and whether it is terminating)
   */
  constructor(readonly address: ResolvedAddress) {
    this.terminating = address.terminating === true;
  }

  /** Whether the endpoint is out of rotation at `now`. */
  isEjected(now: MonotonicMs): boolean {
    return this.ejectedUntil > now;
  }

  /** Records a latency sample (EWMA, weight 0.3 for the new sample). */
  recordLatency(ms: number): void {
    this.latencyMs = this.latencyMs === 0 ? ms : this.latencyMs * 0.7 + ms * 0.3;
  }

  /** Links an attempt in flight (newest last). */
  link(attempt: InFlightAttempt): void {
    attempt.inFlightPrev = this.newest;
    attempt.inFlightNext = undefined;
    if (this.newest) this.newest.inFlightNext = attempt;
    else this.oldest = attempt;
    this.newest = attempt;
  }

  /** Unlinks an attempt (no-op for one not linked here). */
  unlink(attempt: InFlightAttempt): void {
    const { inFlightPrev: prev, inFlightNext: next } = attempt;
    if (prev) prev.inFlightNext = next;
    else if (this.oldest === attempt) this.oldest = next;
    else return;
    if (next) next.inFlightPrev = prev;
    else this.newest = prev;
    attempt.inFlightPrev = undefined;
    attempt.inFlightNext = undefined;
  }

  /** Tells every linked attempt that this endpoint is lost (each decides whether to move). */
  notifyLost(reason: string): void {
    const lost: InFlightAttempt[] = [];
    for (let a = this.oldest; a; a = a.inFlightNext) lost.push(a);
    for (const a of lost) a.endpointLost(reason);
  }

  /** A snapshot for stats(). */
  snapshot(now: MonotonicMs): EndpointStats {
    const ejected = this.isEjected(now);
    return {
      address: this.address.address,
      state: ejected ? 'ejected' : 'healthy',
      ejectedFor: ejected ? this.ejectedFor : undefined,
      inFlight: this.inFlight,
      attempts: this.attempts,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      ejections: this.ejections,
      ejectedUntil: ejected ? this.ejectedUntilEpoch : 0,
      latencyMs: Math.round(this.latencyMs * 100) / 100,
      port: this.address.port,
      terminating: this.terminating,
    };
  }
}
