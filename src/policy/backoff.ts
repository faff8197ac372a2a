import { ExponentialBackoff, type IBackoff, decorrelatedJitterGenerator, fullJitterGenerator } from 'cockatiel';
import { type OptionGroup, millis, oneOf } from '../utils/option-table.js';

/** How retries are spaced. Delays grow exponentially from `initialDelay` up to `maxDelay`, randomised by `jitter`. */
export interface BackoffOptions {
  /**
   * `full`: a random delay in `[0, min(maxDelay, initialDelay·2^n))` (AWS "full jitter", what Envoy does).
   * `decorrelated`: Polly's decorrelated jitter, smoother growth with less clustering.
   * Default `full`.
   */
  readonly jitter?: 'full' | 'decorrelated';
  /** First delay scale in ms. Default 25 (Envoy's base interval). Range 1–60000. */
  readonly initialDelay?: number;
  /** Largest delay in ms. Default 1000. Range 1–60000 and at least `initialDelay`. */
  readonly maxDelay?: number;
}

/** The `backoff` option's rules. @internal */
export const backoffOptions: OptionGroup<BackoffOptions> = {
  table: {
    jitter: oneOf(
      ['full', 'decorrelated'],
      'full',
      "Full jitter (random in `[0, min(maxDelay, initialDelay·2ⁿ))`, Envoy's choice) or Polly's decorrelated jitter.",
    ),
    initialDelay: millis(1, 60_000, 25, 'First backoff scale (Envoy: 25 ms).'),
    maxDelay: millis(1, 60_000, 1_000, 'Largest backoff (Envoy: 250 ms; larger here so a single-replica move is waited out without hammering).', {
      rangeText: '1–60000, ≥ initialDelay',
    }),
  },
  relations: (b, path) => {
    if (b.maxDelay < b.initialDelay) {
      throw new RangeError(`ridethrough: option "${path('maxDelay')}" must be at least ${path('initialDelay')} (${b.initialDelay}), got ${b.maxDelay}`);
    }
  },
};

/**
 * A sequence of retry delays for one request, drawn from cockatiel's exponential backoff with
 * full or decorrelated jitter.
 */
export class Backoff {
  private state: IBackoff<unknown> | undefined;
  private readonly factory: ExponentialBackoff<unknown>;

  /**
   * @param options - jitter, initial and largest delay (already validated)
   */
  constructor(options: Required<BackoffOptions>) {
    this.factory = new ExponentialBackoff<unknown>({
      generator: (options.jitter === 'decorrelated' ? decorrelatedJitterGenerator : fullJitterGenerator) as never,
      initialDelay: options.initialDelay,
      maxDelay: options.maxDelay,
    });
  }

  /** The next delay in milliseconds. */
  next(): number {
    this.state = this.state ? this.state.next(undefined) : this.factory.next();
    return Math.max(0, Math.round(this.state.duration));
  }
}
