import { CircuitState, ConsecutiveBreaker, type IBreaker, SamplingBreaker } from 'cockatiel';
import { publish } from '../events/channels.js';

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
  /** How long the breaker stays open before one probe request is let through, in ms. Default 5000. Range 100–600000. */
  readonly halfOpenAfter?: number;
}

/** The breaker's view of a finished request. */
export type BreakerVerdict = 'healthy' | 'unhealthy' | 'neutral';

/**
 * What {@link OriginBreaker.acquire} grants: `pass` while closed, `probe` for the single request let
 * through while half-open. Hand it back to {@link OriginBreaker.release} with the request's verdict.
 */
export type BreakerTicket = 'pass' | 'probe';

/** The breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A per-origin circuit breaker. It counts whole requests (after ridethrough's retries), and only
 * outcomes that say the upstream is unhealthy: connect failures and timeouts that retries could not ride
 * out, and final 502/503/504 — never 4xx or caller aborts. While open, requests fail at once without
 * touching a socket; after `halfOpenAfter` a single probe goes through: its success closes the breaker,
 * its failure opens it again, and a neutral outcome (the caller gave up, DNS failed) lets the next
 * request probe instead.
 *
 * When to open is decided by cockatiel's breaker strategies (`ConsecutiveBreaker`, `SamplingBreaker`
 * with its sliding window and minimum rate). The open/half-open/closed machine around them is ridethrough's
 * own and synchronous: cockatiel's `CircuitBreakerPolicy.execute` wraps every call in promises, which on
 * a hot path costs more than the rest of the bookkeeping together.
 */
export class OriginBreaker {
  private readonly counter: IBreaker;
  private readonly halfOpenAfter: number;
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private probing = false;

  /**
   * @param origin - the origin this breaker protects (for events)
   * @param options - breaker settings (validated by the caller)
   */
  constructor(
    readonly origin: string,
    options: BreakerOptions,
  ) {
    this.halfOpenAfter = options.halfOpenAfter ?? 5_000;
    this.counter =
      options.mode === 'sampling'
        ? new SamplingBreaker({
            // cockatiel wants a ratio below 1: threshold 1 means "open only when every request in the window failed".
            threshold: Math.min(options.threshold ?? 0.5, 1 - 1e-9),
            duration: options.duration ?? 10_000,
            // cockatiel treats 0 as "not set" and falls back to its own minimum; the smallest positive value means none.
            minimumRps: options.minimumRps === 0 ? Number.MIN_VALUE : (options.minimumRps ?? 5),
          })
        : new ConsecutiveBreaker(options.threshold ?? 5);
  }

  /** `closed`, `open` or `half-open`. */
  get state(): BreakerState {
    return this.current;
  }

  /** When the next probe will be let through (epoch ms), while not closed. */
  get retryAt(): number | undefined {
    return this.current === 'closed' ? undefined : this.openedAt + this.halfOpenAfter;
  }

  /**
   * Asks to send a request. Returns a ticket, or undefined when the breaker is open (or its probe is
   * in flight): the request must then fail at once.
   */
  acquire(): BreakerTicket | undefined {
    if (this.current === 'closed') return 'pass';
    if (this.current === 'open') {
      if (Date.now() - this.openedAt < this.halfOpenAfter) return undefined;
      this.moveTo('half-open');
    }
    if (this.probing) return undefined;
    this.probing = true;
    return 'probe';
  }

  /** Reports how a request let through by {@link acquire} went. */
  release(ticket: BreakerTicket, verdict: BreakerVerdict): void {
    if (ticket === 'probe') {
      this.probing = false;
      if (this.current !== 'half-open' || verdict === 'neutral') return;
      if (verdict === 'healthy') {
        this.counter.success(CircuitState.HalfOpen);
        this.moveTo('closed');
      } else {
        this.counter.failure(CircuitState.HalfOpen);
        this.open();
      }
      return;
    }
    // A request let through while closed still feeds the counts (a sampling window is about time, not
    // state), but only opens a breaker that is still closed.
    if (verdict === 'healthy') this.counter.success(CircuitState.Closed);
    else if (verdict === 'unhealthy' && this.counter.failure(CircuitState.Closed) && this.current === 'closed') this.open();
  }

  private open(): void {
    this.openedAt = Date.now();
    this.moveTo('open');
  }

  private moveTo(state: BreakerState): void {
    this.current = state;
    publish('breaker', () => ({ origin: this.origin, state }));
  }
}
