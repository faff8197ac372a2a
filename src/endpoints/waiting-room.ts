import { publish } from '../events/channels.js';
import { longAgo, type MonotonicMs, monotonicNow } from '../timing/clock.js';

/** What made an endpoint of the host usable again. */
export type WakeReason = 'dns' | 'restored' | 'ejection-ended';

/** A request parked until an endpoint of its host becomes usable. */
export interface Waiter {
  /** Called once per park when the waiting room is released; the waiter may park again. */
  wake(reason: WakeReason): void;
}

/**
 * The requests of one host that have nowhere to go now. Instead of each sleeping its own backoff, they
 * wait here and are released together the moment an endpoint may be usable: a DNS answer with a new
 * address, an endpoint that answered again, an ejection that ended.
 *
 * While anyone waits, the host is re-queried on a short jittered cadence (one query at a time: the DNS
 * cache shares it), so a new pod is seen within one interval of DNS publishing it. The room's timers
 * run only while it has waiters.
 */
export class WaitingRoom {
  private readonly waiters = new Set<Waiter>();
  private cadence: NodeJS.Timeout | undefined = undefined;
  private ejectionTimer: NodeJS.Timeout | undefined = undefined;
  private ejectionAt: MonotonicMs = longAgo;
  /** When the last re-query started: the cadence never runs faster than 0.8 × interval. */
  private lastRefreshAt: MonotonicMs = -Infinity as MonotonicMs;

  /**
   * @param hostname - the host, for events
   * @param intervalMs - the re-query cadence while anyone waits (±20 % jitter)
   * @param refresh - starts a fresh DNS query for the host; its answer reaches the endpoint set, which releases the room when it adds an address
   */
  constructor(
    private readonly hostname: string,
    private readonly intervalMs: number,
    private readonly refresh: () => void,
  ) {}

  /** How many requests wait now. */
  get size(): number {
    return this.waiters.size;
  }

  /** Parks a waiter (no-op when it already waits). The first waiter starts the re-query cadence. */
  park(waiter: Waiter): void {
    this.waiters.add(waiter);
    if (this.cadence === undefined) this.schedule(this.lastRefreshAt + this.intervalMs * 0.8 - monotonicNow());
  }

  /** Takes a waiter out without waking it. */
  leave(waiter: Waiter): void {
    if (this.waiters.delete(waiter) && this.waiters.size === 0) this.stop();
  }

  /** Wakes every waiter (they park again if nothing suits them). Returns how many were woken. */
  release(reason: WakeReason): number {
    const n = this.waiters.size;
    if (n === 0) return 0;
    const woken = [...this.waiters];
    this.waiters.clear();
    this.stop();
    publish('release', () => ({ hostname: this.hostname, waiters: n, reason }));
    for (const w of woken) w.wake(reason);
    return n;
  }

  /** Releases the room when an ejection ends at `at`, while anyone waits. */
  wakeAt(at: MonotonicMs): void {
    if (this.waiters.size === 0 || (this.ejectionTimer !== undefined && this.ejectionAt <= at)) return;
    clearTimeout(this.ejectionTimer);
    this.ejectionAt = at;
    this.ejectionTimer = setTimeout(
      () => {
        this.ejectionTimer = undefined;
        this.release('ejection-ended');
      },
      Math.max(1, Math.ceil(at - monotonicNow())),
    );
    this.ejectionTimer.unref();
  }

  /** Stops the cadence and forgets every waiter without waking them. */
  close(): void {
    this.waiters.clear();
    this.stop();
  }

  /** Re-queries after `delayMs` (at once when it is not positive), then on the jittered cadence while anyone waits. */
  private schedule(delayMs: number): void {
    if (delayMs <= 0) {
      this.lastRefreshAt = monotonicNow();
      this.refresh();
      delayMs = Math.round(this.intervalMs * (0.8 + Math.random() * 0.4));
    }
    // Unref'd: a parked request's own wait timer keeps the process alive, this one need not.
    this.cadence = setTimeout(() => {
      this.cadence = undefined;
      if (this.waiters.size > 0) this.schedule(0);
    }, delayMs);
    this.cadence.unref();
  }

  private stop(): void {
    clearTimeout(this.cadence);
    clearTimeout(this.ejectionTimer);
    this.cadence = undefined;
    this.ejectionTimer = undefined;
  }
}
