import type { FailureClass } from './failure.js';
import type { MonotonicMs } from '../timing/clock.js';

/** What a request knows about itself when an attempt has failed. */
export interface ErrorFacts {
  /** How the failure is classified ({@link classifyError}). */
  readonly failure: FailureClass;
  /** Whether the request may be sent twice (method, `Idempotency-Key`, or the caller's override). */
  readonly idempotent: boolean;
  /** Whether the body can be sent again (replayable, or never read). */
  readonly canSend: boolean;
  /** Attempts made so far, the failed one included. */
  readonly attempts: number;
  /** Most attempts allowed. */
  readonly maxAttempts: number;
}

/** What to do after a failed attempt, when no other attempt of the request is still on its way. */
export type ErrorVerdict =
  /** Not a failure a retry can fix: the caller gets the error as it is. */
  | { readonly kind: 'fail' }
  /** A retry would be unsafe or impossible. */
  | { readonly kind: 'not-retryable'; readonly reason: 'not-idempotent' | 'body-not-replayable' }
  /** No attempts left. */
  | { readonly kind: 'exhausted' }
  /** Retry; `paid` when the request may have loaded the server, so the retry is paid from the retry budget. */
  | { readonly kind: 'retry'; readonly paid: boolean };

const fail: ErrorVerdict = Object.freeze({ kind: 'fail' });
const exhausted: ErrorVerdict = Object.freeze({ kind: 'exhausted' });
const retryFree: ErrorVerdict = Object.freeze({ kind: 'retry', paid: false });
const retryPaid: ErrorVerdict = Object.freeze({ kind: 'retry', paid: true });
const notIdempotent: ErrorVerdict = Object.freeze({ kind: 'not-retryable', reason: 'not-idempotent' });
const notReplayable: ErrorVerdict = Object.freeze({ kind: 'not-retryable', reason: 'body-not-replayable' });

/**
 * Decides whether a failed attempt is retried. A request that surely never left the client is retried
 * whatever its method; one that may have reached the server only when it is idempotent.
 */
export function decideAfterError(f: ErrorFacts): ErrorVerdict {
  if (f.failure === 'fatal') return fail;
  if (!f.canSend) return notReplayable;
  const maybeSent = f.failure === 'maybe-sent';
  if (maybeSent && !f.idempotent) return notIdempotent;
  if (f.attempts >= f.maxAttempts) return exhausted;
  return maybeSent ? retryPaid : retryFree;
}

/** What a request knows about itself when response headers arrive. */
export interface StatusFacts {
  /** Whether the status is one of `statusCodes`. */
  readonly listed: boolean;
  /** The response's `Retry-After`, in ms from now, when it has a valid one. */
  readonly retryAfterMs: number | undefined;
  /** Longest `Retry-After` honoured. */
  readonly maxRetryAfterMs: number;
  /** Whether the request may be sent twice. */
  readonly idempotent: boolean;
  /** Whether the body can be sent again. */
  readonly canSend: boolean;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
  /** Most attempts allowed. */
  readonly maxAttempts: number;
  /** Whether another attempt of the request (a hedge) is still on its way. */
  readonly othersRunning: boolean;
}

/** What to do with a response: hand it to the caller, or drain it and retry. */
export type StatusVerdict =
  /** The caller gets this response. */
  | { readonly kind: 'answer' }
  /** Drain it and let the attempt still on its way answer instead (no new attempt, nothing paid). */
  | { readonly kind: 'await-others' }
  /** Drain it and retry after `Retry-After` (`delayMs`) or, when undefined, after the backoff; paid from the budget. */
  | { readonly kind: 'retry'; readonly delayMs: number | undefined };

const answer: StatusVerdict = Object.freeze({ kind: 'answer' });
const awaitOthers: StatusVerdict = Object.freeze({ kind: 'await-others' });
const retryBackoff: StatusVerdict = Object.freeze({ kind: 'retry', delayMs: undefined });

/**
 * Decides whether a response is retried. Listed statuses are retried for idempotent requests; a 429 (or
 * any status) only when it says when, with `Retry-After`, and not longer than `maxRetryAfter`.
 * The budget and the deadline are the caller's to check.
 */
export function decideStatus(f: StatusFacts): StatusVerdict {
  if (!f.listed && f.retryAfterMs === undefined) return answer;
  if (f.othersRunning && f.canSend) return awaitOthers;
  if (!f.idempotent || !f.canSend || f.attempts >= f.maxAttempts) return answer;
  if (f.retryAfterMs === undefined) return retryBackoff;
  return f.retryAfterMs > f.maxRetryAfterMs ? answer : { kind: 'retry', delayMs: f.retryAfterMs };
}

/** What the circuit breaker learns from a request that ended. */
export type BreakerVerdict = 'healthy' | 'unhealthy' | 'neutral';

/** How a request ended, for {@link breakerVerdictOf}. */
export type RequestEnd =
  /** Response headers handed to the caller; `listed` when the status is one of `statusCodes`. */
  | { readonly kind: 'answered'; readonly listed: boolean }
  /** Gave up after retries that reached endpoints (deadline, attempts, budget, no endpoint). */
  | { readonly kind: 'gave-up'; readonly reachedEndpoint: boolean }
  /** DNS trouble, a caller abort, a failure not retried for safety, or an error not of ridethrough's. */
  | { readonly kind: 'other' };

/**
 * The breaker's verdict. Neutral for DNS trouble, caller aborts, and a single ambiguous failure that was
 * not retried for safety: one pod going away resets every request in flight on it at once, which says
 * nothing about the pods that replace it.
 */
export function breakerVerdictOf(end: RequestEnd): BreakerVerdict {
  switch (end.kind) {
    case 'answered':
      return end.listed ? 'unhealthy' : 'healthy';
    case 'gave-up':
      return end.reachedEndpoint ? 'unhealthy' : 'neutral';
    default:
      return 'neutral';
  }
}

/**
 * Whether an endpoint looks silent: its oldest attempt awaiting headers (started at `oldestStartedAt`)
 * has waited longer than `thresholdMs`, the endpoint has answered nothing since that attempt started,
 * and a peer has answered since (so the host is alive: the silence is this endpoint's).
 */
export function isSilent(
  now: MonotonicMs,
  oldestStartedAt: MonotonicMs,
  lastAnsweredAt: MonotonicMs,
  peerLastAnsweredAt: MonotonicMs,
  thresholdMs: number,
): boolean {
  return now - oldestStartedAt >= thresholdMs && lastAnsweredAt < oldestStartedAt && peerLastAnsweredAt > oldestStartedAt;
}

/** The silence threshold: `multiple` × the origin's recent p99 time to headers, never below `floorMs`. */
export function silenceThreshold(floorMs: number, multiple: number, p99Ms: number | undefined): number {
  return p99Ms === undefined ? floorMs : Math.max(floorMs, multiple * p99Ms);
}
