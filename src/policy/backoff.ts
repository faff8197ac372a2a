import { ExponentialBackoff, type IBackoff, decorrelatedJitterGenerator, fullJitterGenerator } from 'cockatiel';

/** How retries are spaced. Delays grow exponentially from `base` up to `cap`, randomised by `jitter`. */
export interface BackoffOptions {
  /**
   * `full`: a random delay in `[0, min(cap, base·2^n))` (AWS "full jitter", what Envoy does).
   * `decorrelated`: Polly's decorrelated jitter, smoother growth with less clustering.
   * Default `full`.
   */
  readonly jitter?: 'full' | 'decorrelated';
  /** First delay scale in ms. Default 25 (Envoy's base interval). Range 1–60000. */
  readonly base?: number;
  /** Largest delay in ms. Default 1000. Range 1–60000 and at least `base`. */
  readonly cap?: number;
}

/**
 * A sequence of retry delays for one request, drawn from cockatiel's exponential backoff with
 * full or decorrelated jitter.
 */
export class Backoff {
  private state: IBackoff<unknown> | undefined;
  private readonly factory: ExponentialBackoff<unknown>;

  /**
   * @param options - jitter, base and cap (already validated)
   */
  constructor(options: Required<BackoffOptions>) {
    this.factory = new ExponentialBackoff<unknown>({
      generator: (options.jitter === 'decorrelated' ? decorrelatedJitterGenerator : fullJitterGenerator) as never,
      initialDelay: options.base,
      maxDelay: options.cap,
    });
  }

  /** The next delay in milliseconds. */
  next(): number {
    this.state = this.state ? this.state.next(undefined) : this.factory.next();
    return Math.max(0, Math.round(this.state.duration));
  }
}
