import { CircuitState, ConsecutiveBreaker, SamplingBreaker, circuitBreaker, handleType, type CircuitBreakerPolicy } from 'cockatiel';
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

/** A permission to send one request through a closed (or probing) breaker. */
export interface BreakerPermit {
  /** Reports how the request went: `unhealthy` counts toward opening, `healthy` closes a probing breaker. */
  release(verdict: BreakerVerdict): void;
}

class Unhealthy extends Error {}
/** Not handled by the policy: cockatiel then counts neither a success nor a failure (closed state). */
class Neutral extends Error {}

/**
 * A per-origin circuit breaker on cockatiel's `CircuitBreakerPolicy`. It counts whole requests (after
 * ridethrough's retries), and only outcomes that say the upstream is unhealthy: connect failures and
 * timeouts that retries could not ride out, and final 502/503/504 — never 4xx or caller aborts. While
 * open, requests fail at once without touching a socket; after `halfOpenAfter` a single probe goes through
 * and its success closes the breaker.
 */
export class OriginBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private openedAt = 0;
  private readonly halfOpenAfter: number;

  /**
   * @param origin - the origin this breaker protects (for events)
   * @param options - breaker settings (validated by the caller)
   */
  constructor(
    readonly origin: string,
    options: BreakerOptions,
  ) {
    this.halfOpenAfter = options.halfOpenAfter ?? 5_000;
    const breaker =
      options.mode === 'sampling'
        ? new SamplingBreaker({
            // cockatiel wants a ratio below 1: threshold 1 means "open only when every request in the window failed".
            threshold: Math.min(options.threshold ?? 0.5, 1 - 1e-9),
            duration: options.duration ?? 10_000,
            // cockatiel treats 0 as "not set" and falls back to its own minimum; the smallest positive value means none.
            minimumRps: options.minimumRps === 0 ? Number.MIN_VALUE : (options.minimumRps ?? 5),
          })
        : new ConsecutiveBreaker(options.threshold ?? 5);
    this.policy = circuitBreaker(handleType(Unhealthy), { halfOpenAfter: this.halfOpenAfter, breaker });
    this.policy.onBreak(() => {
      this.openedAt = Date.now();
    });
    this.policy.onStateChange((state) => {
      const name = state === CircuitState.Open ? 'open' : state === CircuitState.HalfOpen ? 'half-open' : state === CircuitState.Closed ? 'closed' : 'open';
      publish('breaker', () => ({ origin: this.origin, state: name }));
    });
  }

  /** `closed`, `open` or `half-open`. */
  get state(): 'closed' | 'open' | 'half-open' {
    const s = this.policy.state;
    return s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  /** When the next probe will be let through (epoch ms), while open. */
  get retryAt(): number | undefined {
    return this.policy.state === CircuitState.Closed ? undefined : this.openedAt + this.halfOpenAfter;
  }

  /**
   * Asks to send a request. Returns a permit, or undefined when the breaker is open (or a probe is
   * already in flight): the request must then fail at once.
   */
  acquire(): BreakerPermit | undefined {
    const state = this.policy.state;
    if (state === CircuitState.HalfOpen) return undefined;
    if (state !== CircuitState.Closed && Date.now() - this.openedAt < this.halfOpenAfter) return undefined;
    let settle: ((verdict: BreakerVerdict) => void) | undefined;
    const outcome = new Promise<void>((resolve, reject) => {
      settle = (verdict) => (verdict === 'unhealthy' ? reject(new Unhealthy()) : verdict === 'neutral' ? reject(new Neutral()) : resolve());
    });
    this.policy.execute(() => outcome).catch(() => {});
    let released = false;
    return {
      release: (verdict) => {
        if (released) return;
        released = true;
        settle!(verdict);
      },
    };
  }
}
