import { CircuitState, ConsecutiveBreaker, type IBreaker, SamplingBreaker } from 'cockatiel';
import { publish } from '../events/channels.js';
import { type OptionGroup, custom, group, millis, num, oneOf } from '../utils/option-table.js';
import { describe } from '../utils/validate.js';
import { epochNow, type EpochMs, longAgo, type MonotonicMs, monotonicNow, plus } from '../timing/clock.js';

/** Settings of the per-origin circuit breaker. */
export interface BreakerOptions {
  /** `consecutive`: opens after `threshold` unhealthy requests in a row. `sampling`: opens when the unhealthy ratio over `duration` exceeds `threshold`. Default `consecutive`. */
  readonly mode?: 'consecutive' | 'sampling';
  /** Consecutive mode: unhealthy requests in a row (default 5, range 1–1000). Sampling mode: failure ratio (default 0.5, range 0.01–1). */
  readonly threshold?: number;
  /** Sampling mode: the window in ms. Default 10000. Range 1000–600000. */
  readonly duration?: number;
  /** Sampling mode: requests per second below which the breaker never opens. Default 5. Range 0–100000. */
  readonly minimumRps?: number;
  /** How long the breaker stays open before probe requests are let through, in ms. Default 5000. Range 100–600000. */
  readonly halfOpenAfter?: number;
  /**
   * How a half-open breaker decides (cockatiel 4's `halfOpenSampling`): let `calls` probe requests
   * through, reopen as soon as more than `threshold` of them failed, close once all ended below it.
   * Default `{ calls: 1, threshold: 0 }`: one probe, whose failure reopens and whose success closes.
   */
  readonly halfOpenSampling?: HalfOpenSamplingOptions;
}

/** The probes of a half-open breaker: {@link BreakerOptions.halfOpenSampling}. */
export interface HalfOpenSamplingOptions {
  /** Probe requests let through while half-open, at most this many at a time. Default 1. Range: integer 1–1000. */
  readonly calls?: number;
  /** Failure ratio of the `calls` probes above which the breaker opens again (0: the first failed probe). Default 0. Range 0–0.99. */
  readonly threshold?: number;
}

/** The `breaker.halfOpenSampling` option's rules. @internal */
const halfOpenSamplingOptions: OptionGroup<HalfOpenSamplingOptions> = {
  table: {
    calls: num(1, 1000, 1, 'Probe requests let through while half-open, at most this many at a time.', { integer: true }),
    // cockatiel requires a ratio below 1: 1 would mean "never reopen".
    threshold: num(0, 0.99, 0, 'Failure ratio of the probes above which the breaker opens again (0: the first failed probe).'),
  },
};

/** The `breaker` option's rules. @internal */
export const breakerOptions: OptionGroup<BreakerOptions> = {
  table: {
    mode: oneOf(['consecutive', 'sampling'], 'consecutive', 'Consecutive failures, or a failure ratio over a window.'),
    threshold: custom(checkThresholdType, 5, 'Failures in a row, or the failure ratio when sampling.', {
      defaultText: '5 (0.5 when sampling)',
      rangeText: 'integer 1–1000 (0.01–1 when sampling)',
    }),
    duration: millis(1_000, 600_000, 10_000, 'Sampling window.'),
    minimumRps: num(0, 100_000, 5, 'Sampling: the request rate below which the breaker never opens.'),
    halfOpenAfter: millis(
      100,
      600_000,
      5_000,
      'Time open before one probe request is let through (or `halfOpenSampling.calls` probes). Its success closes the breaker, its failure opens it again; a probe that ends neutral (aborted by its caller) leaves it half-open for the next request to probe.',
    ),
    halfOpenSampling: group(
      halfOpenSamplingOptions,
      "How a half-open breaker decides (cockatiel 4's option of that name, same meaning): up to `calls` probes go through at once; the breaker opens again as soon as more than `threshold` × `calls` of them failed, and closes once all `calls` ended below that. Raise it when one lucky probe should not let a flood back onto a half-recovered service, e.g. `{ calls: 5, threshold: 0.2 }`.",
      {
        on: true,
        defaultText: '`{ calls: 1, threshold: 0 }`',
      },
    ),
  },
  // The consecutive default (5 requests) is no ratio: sampling defaults to 0.5.
  dependentDefaults: (given) => (given.mode === 'sampling' ? { threshold: 0.5 } : {}),
  relations: (b, path) => {
    const t = b.threshold;
    const sampling = b.mode === 'sampling';
    if (sampling ? t < 0.01 || t > 1 : t < 1 || t > 1000 || !Number.isInteger(t))
      throw new RangeError(`${thresholdMessage(path('threshold'), sampling)}, got ${t}`);
  },
};

function thresholdMessage(path: string, sampling: boolean | undefined): string {
  const what =
    sampling === undefined
      ? 'an integer from 1 to 1000, or a ratio from 0.01 to 1 in sampling mode'
      : sampling
        ? 'a ratio from 0.01 to 1 in sampling mode'
        : 'an integer from 1 to 1000 in consecutive mode';
  return `ridethrough: option "${path}" must be ${what}`;
}

/** The threshold's range depends on the mode (checked once both are known); here only its type. */
function checkThresholdType(path: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || Number.isNaN(value)))
    throw new TypeError(`${thresholdMessage(path, undefined)}, got ${describe(value)}`);
}

/** The breaker's view of a finished request. */
export type BreakerVerdict = 'healthy' | 'unhealthy' | 'neutral';

/**
 * What {@link OriginBreaker.acquire} grants: `pass` while closed, a {@link BreakerProbe} for a request
 * let through while half-open. Hand it back to {@link OriginBreaker.release} with the request's verdict.
 */
export type BreakerTicket = 'pass' | BreakerProbe;

/** A probe ticket: the half-open round it belongs to, so a probe that outlives its round counts for none. */
export interface BreakerProbe {
  /** The half-open round (1, 2, ...) that let this probe through. */
  readonly round: number;
}

/** The breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A per-origin circuit breaker. It counts whole requests (after ridethrough's retries), and only
 * outcomes that say the upstream is unhealthy: connect failures and timeouts that retries could not ride
 * out, and final 502/503/504 — never 4xx or caller aborts. While open, requests fail at once without
 * touching a socket; after `halfOpenAfter` a single probe goes through (or `halfOpenSampling.calls`
 * probes): its success closes the breaker, its failure opens it again, and a neutral outcome (the
 * caller gave up, DNS failed) lets the next request probe instead.
 *
 * When to open is decided by cockatiel's breaker strategies (`ConsecutiveBreaker`, `SamplingBreaker`
 * with its sliding window and minimum rate). The open/half-open/closed machine around them is ridethrough's
 * own and synchronous: cockatiel's `CircuitBreakerPolicy.execute` wraps every call in promises, which on
 * a hot path costs more than the rest of the bookkeeping together.
 */
export class OriginBreaker {
  private readonly counter: IBreaker;
  private readonly halfOpenAfter: number;
  private readonly probeCalls: number;
  private readonly probeThreshold: number;
  private current: BreakerState = 'closed';
  private openedAt: MonotonicMs = longAgo;
  /** The same moment on the wall clock, for {@link retryAt} (read once, so the time shown does not move). */
  private openedAtEpoch = 0 as EpochMs;
  /** The current half-open round, and its probes: in flight, ended healthy, ended unhealthy. */
  private round = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  private probeFailures = 0;

  /**
   * @param origin - the origin this breaker protects (for events)
   * @param options - breaker settings, resolved with {@link breakerOptions}
   */
  constructor(
    readonly origin: string,
    options: Required<BreakerOptions>,
  ) {
    this.halfOpenAfter = options.halfOpenAfter;
    this.probeCalls = options.halfOpenSampling?.calls ?? 1;
    this.probeThreshold = options.halfOpenSampling?.threshold ?? 0;
    this.counter =
      options.mode === 'sampling'
        ? new SamplingBreaker({
            // cockatiel wants a ratio below 1: threshold 1 means "open only when every request in the window failed".
            threshold: Math.min(options.threshold, 1 - 1e-9),
            duration: options.duration,
            // cockatiel treats 0 as "not set" and falls back to its own minimum; the smallest positive value means none.
            minimumRps: options.minimumRps === 0 ? Number.MIN_VALUE : options.minimumRps,
          })
        : new ConsecutiveBreaker(options.threshold);
  }

  /** `closed`, `open` or `half-open`. */
  get state(): BreakerState {
    return this.current;
  }

  /** When the next probe will be let through (epoch ms, for people: the breaker itself runs on the monotonic clock), while not closed. */
  get retryAt(): EpochMs | undefined {
    return this.current === 'closed' ? undefined : plus(this.openedAtEpoch, this.halfOpenAfter);
  }

  /**
   * Asks to send a request. Returns a ticket, or undefined when the breaker is open (or its probes are
   * all taken): the request must then fail at once.
   */
  acquire(): BreakerTicket | undefined {
    if (this.current === 'closed') return 'pass';
    if (this.current === 'open') {
      if (monotonicNow() - this.openedAt < this.halfOpenAfter) return undefined;
      this.round++;
      this.probesInFlight = this.probeSuccesses = this.probeFailures = 0;
      this.moveTo('half-open');
    }
    if (this.probesInFlight + this.probeSuccesses + this.probeFailures >= this.probeCalls) return undefined;
    this.probesInFlight++;
    return { round: this.round };
  }

  /** Reports how a request let through by {@link acquire} went. */
  release(ticket: BreakerTicket, verdict: BreakerVerdict): void {
    if (ticket !== 'pass') {
      // A probe of an earlier round (the breaker reopened meanwhile) counts for nothing.
      if (ticket.round !== this.round || this.current !== 'half-open') return;
      this.probesInFlight--;
      if (verdict === 'neutral') return;
      if (verdict === 'healthy') this.probeSuccesses++;
      else this.probeFailures++;
      if (this.probeFailures > this.probeThreshold * this.probeCalls) {
        this.counter.failure(CircuitState.HalfOpen);
        this.open();
      } else if (this.probeSuccesses + this.probeFailures >= this.probeCalls && this.probesInFlight === 0) {
        this.counter.success(CircuitState.HalfOpen);
        this.moveTo('closed');
      }
      return;
    }
    // A request let through while closed still feeds the counts (a sampling window is about time, not
    // state), but only opens a breaker that is still closed.
    if (verdict === 'healthy') this.counter.success(CircuitState.Closed);
    else if (verdict === 'unhealthy' && this.counter.failure(CircuitState.Closed) && this.current === 'closed') this.open();
  }

  private open(): void {
    this.openedAt = monotonicNow();
    this.openedAtEpoch = epochNow();
    this.moveTo('open');
  }

  private moveTo(state: BreakerState): void {
    this.current = state;
    publish('breaker', () => ({ origin: this.origin, state }));
  }
}
