import { type OptionGroup, millis, num } from '../utils/option-table.js';
import { type MonotonicMs, monotonicNow } from '../timing/clock.js';

/** Settings of the per-origin retry budget. */
export interface RetryBudgetOptions {
  /** Retries allowed per request sent, over the window (Finagle and Linkerd: 0.2). Default 0.2. Range 0–10. */
  readonly ratio?: number;
  /** Retries always allowed per second, whatever the volume (Finagle: 10). Default 10. Range 0–10000. */
  readonly minPerSecond?: number;
  /** The window the ratio is measured over, in ms (Finagle: 10 s). Default 10000. Range 1000–600000. */
  readonly window?: number;
}

/** The `budget` option's rules. @internal */
export const budgetOptions: OptionGroup<RetryBudgetOptions> = {
  table: {
    ratio: num(0, 10, 0.2, 'Retries allowed per request sent, over the window (Finagle, Linkerd: 0.2).'),
    minPerSecond: num(0, 10_000, 10, 'Retries always allowed per second, whatever the volume (Finagle: 10).'),
    window: millis(1_000, 600_000, 10_000, 'The window the ratio is measured over.'),
  },
};

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
 * The window is ten buckets of a tenth of the window each, kept in a ring of slots by bucket number
 * (time divided by the bucket's length, modulo ten): a slot whose bucket number is not the current one
 * is stale and starts again from zero when written. A deposit (every request makes one) has no branch
 * that runs only when a bucket turns over, so the hot request path is never deoptimised by a rare branch
 * (docs/benchmarks.md, "The last few percent"). Sums over the window are taken only when a retry asks.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly bucketMs: number;
  /** Per slot: the number of the bucket it counts (-1: none yet), its requests and its retries. */
  private readonly slotBucket: number[] = Array.from({ length: buckets }, () => -1);
  private readonly slotRequests: number[] = Array.from({ length: buckets }, () => 0);
  private readonly slotRetries: number[] = Array.from({ length: buckets }, () => 0);
  /** The latest bucket seen: a time before it counts in it (the window never moves back). */
  private latest = 0;
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
   * @param now - now; a time before the latest bucket seen counts in that bucket
   */
  deposit(now: MonotonicMs = monotonicNow()): void {
    this.slotRequests[this.slotAt(now)]!++;
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryWithdraw(now: MonotonicMs = monotonicNow()): boolean {
    const slot = this.slotAt(now);
    if (this.inWindow(this.slotRetries) + 1 > this.ratio * this.inWindow(this.slotRequests) + this.floor) {
      this.refused++;
      return false;
    }
    this.slotRetries[slot]!++;
    return true;
  }

  /** Retries still available now. */
  available(now: MonotonicMs = monotonicNow()): number {
    this.slotAt(now);
    return Math.max(0, Math.floor(this.ratio * this.inWindow(this.slotRequests) + this.floor - this.inWindow(this.slotRetries)));
  }

  /** The slot of the bucket `now` falls in (the latest bucket, if `now` is earlier), emptied first if it held an older bucket. */
  private slotAt(now: MonotonicMs): number {
    const bucket = Math.max(Math.floor(now / this.bucketMs), this.latest);
    this.latest = bucket;
    const slot = bucket % buckets;
    // Without a branch: 1 keeps the slot's counts, 0 clears them.
    const same = this.slotBucket[slot] === bucket ? 1 : 0;
    this.slotBucket[slot] = bucket;
    this.slotRequests[slot]! *= same;
    this.slotRetries[slot]! *= same;
    return slot;
  }

  /** The sum of `counts` over the slots whose bucket is in the window that ends with the latest bucket. */
  private inWindow(counts: readonly number[]): number {
    const oldest = this.latest - buckets;
    let sum = 0;
    for (let i = 0; i < buckets; i++) if (this.slotBucket[i]! > oldest) sum += counts[i]!;
    return sum;
  }
}
