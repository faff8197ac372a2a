/**
 * The last N time-to-headers samples of an origin, for percentile-based hedging delays.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private count = 0;
  private next = 0;

  /**
   * @param size - how many recent samples to keep
   */
  constructor(size = 128) {
    this.samples = new Float64Array(size);
  }

  /** Number of samples held. */
  get size(): number {
    return this.count;
  }

  /** Adds a sample in ms. */
  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }

  /** The `p`-th percentile (0–100) of the samples held, or undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined;
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
    return sorted[Math.max(0, index)];
  }
}
