/** Settings of the per-origin retry budget. */
export interface RetryBudgetOptions {
  /** Retries allowed per request sent, over the window (Finagle and Linkerd: 0.2). Default 0.2. Range 0–10. */
  readonly ratio?: number;
  /** Retries always allowed per second, whatever the volume (Finagle: 10). Default 10. Range 0–10000. */
  readonly minPerSecond?: number;
  /** The window the ratio is measured over, in ms (Finagle: 10 s). Default 10000. Range 1000–600000. */
  readonly window?: number;
}

/** Default retry budget (see {@link RetryBudgetOptions}). */
export const budgetDefaults = { ratio: 0.2, minPerSecond: 10, window: 10_000 } as const;

const buckets = 10;

/**
 * A per-origin retry budget as in Finagle's RetryBudget and Linkerd: retries may add at most `ratio` of
 * the requests sent in the last `window`, plus `minPerSecond` for low-volume callers. Under a total
 * outage the upstream therefore sees at most about (1 + ratio) × requests + the floor.
 *
 * Retries of requests that never reached the server (refused or timed-out connects, DNS) cost the
 * server nothing and are not charged; retries that may load it (after a reset, a timeout, a 5xx) and
 * hedged requests are.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly bucketMs: number;
  private readonly requests = new Float64Array(buckets);
  private readonly retries = new Float64Array(buckets);
  private current = 0;
  private currentStart = 0;
  /** Retries refused since creation. */
  refused = 0;

  /**
   * @param options - ratio, floor and window (validated by the caller)
   */
  constructor(options: Required<RetryBudgetOptions>) {
    this.ratio = options.ratio;
    this.floor = options.minPerSecond * (options.window / 1000);
    this.bucketMs = options.window / buckets;
  }

  /** Counts a request (first attempt) sent. */
  deposit(now = Date.now()): void {
    this.roll(now);
    this.requests[this.current]! += 1;
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryWithdraw(now = Date.now()): boolean {
    this.roll(now);
    if (this.sum(this.retries) + 1 > this.ratio * this.sum(this.requests) + this.floor) {
      this.refused++;
      return false;
    }
    this.retries[this.current]! += 1;
    return true;
  }

  /** Retries still available now. */
  available(now = Date.now()): number {
    this.roll(now);
    return Math.max(0, Math.floor(this.ratio * this.sum(this.requests) + this.floor - this.sum(this.retries)));
  }

  private sum(a: Float64Array): number {
    let s = 0;
    for (let i = 0; i < buckets; i++) s += a[i]!;
    return s;
  }

  private roll(now: number): void {
    if (this.currentStart === 0) {
      this.currentStart = now;
      return;
    }
    let steps = Math.floor((now - this.currentStart) / this.bucketMs);
    if (steps <= 0) return;
    if (steps > buckets) steps = buckets;
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % buckets;
      this.requests[this.current] = 0;
      this.retries[this.current] = 0;
    }
    this.currentStart += Math.floor((now - this.currentStart) / this.bucketMs) * this.bucketMs;
  }
}
