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
 *
 * The window is ten buckets: the current one, counted in two integer fields, and the nine before it in
 * a ring with running sums. Every request deposits, so a deposit is one comparison and one increment:
 * counts stay small integers, never boxed numbers or typed-array writes, and the ring moves only when a
 * bucket's time is up.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly bucketMs: number;
  /** Requests and retries of the nine buckets before the current one; `oldest` is overwritten next. */
  private readonly pastRequests: number[] = Array.from({ length: buckets - 1 }, () => 0);
  private readonly pastRetries: number[] = Array.from({ length: buckets - 1 }, () => 0);
  private oldest = 0;
  private pastRequestSum = 0;
  private pastRetrySum = 0;
  /** Requests and retries of the current bucket. */
  private requests = 0;
  private retries = 0;
  /** When the current bucket ends (performance.now() time, a monotonic clock); 0 until the first use. */
  private bucketEnd = 0;
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

  /**
   * Counts a request (ridethrough deposits each request once, when it ends).
   * @param now - performance.now() time; an earlier time than the current bucket's counts in the current bucket
   */
  deposit(now = performance.now()): void {
    if (now >= this.bucketEnd) this.roll(now);
    this.requests++;
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryWithdraw(now = performance.now()): boolean {
    if (now >= this.bucketEnd) this.roll(now);
    if (this.pastRetrySum + this.retries + 1 > this.ratio * (this.pastRequestSum + this.requests) + this.floor) {
      this.refused++;
      return false;
    }
    this.retries++;
    return true;
  }

  /** Retries still available now. */
  available(now = performance.now()): number {
    if (now >= this.bucketEnd) this.roll(now);
    return Math.max(0, Math.floor(this.ratio * (this.pastRequestSum + this.requests) + this.floor - this.pastRetrySum - this.retries));
  }

  /** Moves the window to `now`: the current bucket joins the ring, buckets older than the window leave it. */
  private roll(now: number): void {
    if (this.bucketEnd === 0) {
      this.bucketEnd = now + this.bucketMs;
      return;
    }
    const steps = Math.floor((now - this.bucketEnd) / this.bucketMs) + 1;
    // After `buckets` steps nothing of the old window is left: more steps change nothing more.
    for (let i = 0; i < Math.min(steps, buckets); i++) {
      const slot = this.oldest;
      this.pastRequestSum += this.requests - this.pastRequests[slot]!;
      this.pastRetrySum += this.retries - this.pastRetries[slot]!;
      this.pastRequests[slot] = this.requests;
      this.pastRetries[slot] = this.retries;
      this.oldest = (slot + 1) % (buckets - 1);
      this.requests = 0;
      this.retries = 0;
    }
    this.bucketEnd += steps * this.bucketMs;
  }
}
