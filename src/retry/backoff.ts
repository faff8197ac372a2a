import { ExponentialBackoff, type IBackoff, decorrelatedJitterGenerator, fullJitterGenerator } from 'cockatiel';
import type { BackoffOptions } from '../core/options.js';

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
