import type { AttemptRecord } from '../errors/errors.js';
import { Backoff, type BackoffOptions } from '../policy/backoff.js';

/**
 * The part of a request's state that only retries, waits, hedges and failures need: most requests
 * never make one.
 * @internal
 */
export class RetryState {
  /** What each attempt did, for errors and events. */
  readonly records: AttemptRecord[] = [];
  /** Addresses tried so far. */
  tried: string[] | undefined = undefined;
  /** The latest attempt's error: the cause of a later give-up. */
  lastError: Error | undefined = undefined;
  /** True from the start of a wait until it ends (its timer, then any DNS refresh in flight, or a wake). */
  waiting = false;
  /** Ends a wait: the backoff, capped by the deadline (a parked request is also woken by its host). */
  waitTimer: NodeJS.Timeout | undefined = undefined;
  /** Sends the next hedge (the `hedge` option). */
  hedgeTimer: NodeJS.Timeout | undefined = undefined;
  /** Hedges this request may still send on its `hedge` delay (-1 until the first is armed). */
  hedgesLeft = -1;
  /** Parked for a hedge: an attempt is on a lost endpoint and nowhere else was usable yet. */
  wantsHedge = false;
  private backoff: Backoff | undefined = undefined;

  /**
   * @param backoffOptions - the agent's backoff settings
   */
  constructor(private readonly backoffOptions: Required<BackoffOptions>) {}

  /** The next backoff delay, in ms. */
  nextDelay(): number {
    this.backoff ??= new Backoff(this.backoffOptions);
    return this.backoff.next();
  }

  /** Clears the wait and hedge timers. */
  clearTimers(): void {
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    if (this.hedgeTimer !== undefined) clearTimeout(this.hedgeTimer);
    this.waitTimer = undefined;
    this.hedgeTimer = undefined;
    this.waiting = false;
  }
}
