/** A request as its dispatcher's close() and destroy() see it. @internal */
export interface LiveRequest {
  /** The dispatcher was destroyed while the request waited to retry: it fails with `error` now. */
  cancel(error: Error): void;
}

/**
 * The requests of a dispatcher that have not ended yet, for a graceful `close()`, which waits for every
 * one of them (those waiting to retry too), and for `destroy()`, which fails at once those waiting to
 * retry (the others fail with their pools). A count, one increment and one decrement per request, and a
 * set of the requests waiting to retry, which only requests off the hot path (resolving, parked, in a
 * backoff) enter.
 * @internal
 */
export class LiveRequests {
  /** Requests started and not ended (the response ended or failed, the upgrade handed over, the error reported). */
  count = 0;
  /** Requests waiting to retry: nothing of theirs on the wire. */
  readonly waiting = new Set<LiveRequest>();
  /** Runs once when the count drops to zero, while set (a pending close). */
  private onIdle: (() => void) | undefined = undefined;

  /** A request ended. */
  ended(): void {
    if (--this.count !== 0 || this.onIdle === undefined) return;
    const fn = this.onIdle;
    this.onIdle = undefined;
    // Out of the ending request's callbacks (undici's, the caller's) first.
    queueMicrotask(fn);
  }

  /** Runs `fn` once no request is left: now when none is, else when the last one ends (or {@link flush}). */
  whenIdle(fn: () => void): void {
    if (this.count === 0) fn();
    else this.onIdle = fn;
  }

  /** Runs the pending {@link whenIdle} callback now, whatever is left (destroy() during a close). */
  flush(): void {
    const fn = this.onIdle;
    this.onIdle = undefined;
    fn?.();
  }

  /** Fails every request waiting to retry with `error`. */
  cancelWaiting(error: Error): void {
    if (this.waiting.size === 0) return;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const r of waiting) r.cancel(error);
  }
}
