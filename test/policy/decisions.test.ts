/** The pure decisions of the request path: no sockets, no timers. */
import { describe, expect, it } from 'vitest';
import { type ErrorFacts, type StatusFacts, breakerVerdictOf, decideAfterError, decideStatus, isSilent, silenceThreshold } from '../../src/policy/decisions.js';
import type { MonotonicMs } from '../../src/timing/clock.js';

/** A time on the monotonic clock. */
const at = (ms: number): MonotonicMs => ms as MonotonicMs;

const get: ErrorFacts = { failure: 'unsent', idempotent: true, canSend: true, attempts: 1, maxAttempts: 5 };

describe('decideAfterError', () => {
  it('retries a request that never left for free, whatever its method', () => {
    expect(decideAfterError(get)).toEqual({ kind: 'retry', paid: false });
    expect(decideAfterError({ ...get, idempotent: false })).toEqual({ kind: 'retry', paid: false });
  });

  it('retries one that may have reached the server only when idempotent, and from the budget', () => {
    expect(decideAfterError({ ...get, failure: 'maybe-sent' })).toEqual({ kind: 'retry', paid: true });
    expect(decideAfterError({ ...get, failure: 'maybe-sent', idempotent: false })).toEqual({ kind: 'not-retryable', reason: 'not-idempotent' });
  });

  it('never retries a body it cannot send again, nor a fatal error, nor past maxAttempts', () => {
    expect(decideAfterError({ ...get, canSend: false })).toEqual({ kind: 'not-retryable', reason: 'body-not-replayable' });
    expect(decideAfterError({ ...get, failure: 'fatal' })).toEqual({ kind: 'fail' });
    expect(decideAfterError({ ...get, attempts: 5 })).toEqual({ kind: 'exhausted' });
  });

  it('checks safety before attempts: a POST that may have been sent is "not idempotent" even on its last attempt', () => {
    expect(decideAfterError({ ...get, failure: 'maybe-sent', idempotent: false, attempts: 5 })).toEqual({ kind: 'not-retryable', reason: 'not-idempotent' });
  });
});

const status503: StatusFacts = {
  listed: true,
  retryAfterMs: undefined,
  maxRetryAfterMs: 5_000,
  idempotent: true,
  canSend: true,
  attempts: 1,
  maxAttempts: 5,
  othersRunning: false,
};

describe('decideStatus', () => {
  it('answers the caller with an unlisted status without Retry-After', () => {
    expect(decideStatus({ ...status503, listed: false })).toEqual({ kind: 'answer' });
  });

  it('retries a listed status of an idempotent request after the backoff, or after Retry-After', () => {
    expect(decideStatus(status503)).toEqual({ kind: 'retry', delayMs: undefined });
    expect(decideStatus({ ...status503, retryAfterMs: 1_000 })).toEqual({ kind: 'retry', delayMs: 1_000 });
    expect(decideStatus({ ...status503, listed: false, retryAfterMs: 1_000 })).toEqual({ kind: 'retry', delayMs: 1_000 });
  });

  it('answers when a retry is not allowed: not idempotent, body spent, last attempt, Retry-After too long', () => {
    expect(decideStatus({ ...status503, idempotent: false })).toEqual({ kind: 'answer' });
    expect(decideStatus({ ...status503, canSend: false })).toEqual({ kind: 'answer' });
    expect(decideStatus({ ...status503, attempts: 5 })).toEqual({ kind: 'answer' });
    expect(decideStatus({ ...status503, retryAfterMs: 6_000 })).toEqual({ kind: 'answer' });
  });

  it('lets a hedge still on its way answer instead', () => {
    expect(decideStatus({ ...status503, othersRunning: true })).toEqual({ kind: 'await-others' });
  });
});

describe('breakerVerdictOf', () => {
  it('learns from answers and from give-ups that reached an endpoint; DNS trouble and aborts are neutral', () => {
    expect(breakerVerdictOf({ kind: 'answered', listed: false })).toBe('healthy');
    expect(breakerVerdictOf({ kind: 'answered', listed: true })).toBe('unhealthy');
    expect(breakerVerdictOf({ kind: 'gave-up', reachedEndpoint: true })).toBe('unhealthy');
    expect(breakerVerdictOf({ kind: 'gave-up', reachedEndpoint: false })).toBe('neutral');
    expect(breakerVerdictOf({ kind: 'other' })).toBe('neutral');
  });
});

describe('silence', () => {
  it('an endpoint is silent when its oldest attempt waited past the threshold, it answered nothing since, and a peer did', () => {
    // now, oldest attempt started, endpoint's last answer, a peer's last answer, threshold
    expect(isSilent(at(1_000), at(700), at(500), at(900), 200)).toBe(true);
    expect(isSilent(at(1_000), at(850), at(500), at(900), 200)).toBe(false); // not old enough
    expect(isSilent(at(1_000), at(700), at(750), at(900), 200)).toBe(false); // it answered since: a slow request, not silence
    expect(isSilent(at(1_000), at(700), at(500), at(650), 200)).toBe(false); // no peer answered since: maybe the whole service is slow
  });

  it("the threshold follows the origin's p99, never below the floor", () => {
    expect(silenceThreshold(200, 4, undefined)).toBe(200);
    expect(silenceThreshold(200, 4, 10)).toBe(200);
    expect(silenceThreshold(200, 4, 100)).toBe(400);
  });
});
