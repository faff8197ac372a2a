import { type Dispatcher, errors } from 'undici';
import type { DeadlineEntry, Deadlines } from '../timing/deadlines.js';
import type { Endpoint, InFlightAttempt } from '../endpoints/endpoint.js';
import type { HeaderRecord } from '../utils/headers.js';
import { type MonotonicMs, monotonicNow, never } from '../timing/clock.js';

/** How one attempt ended, as far as the request flow is concerned. @internal */
export type AttemptOutcome =
  /** Response headers were handed to the caller: nothing more to decide. */
  | { readonly kind: 'committed' }
  /** The attempt failed with an error before any response was handed over. */
  | { readonly kind: 'error'; readonly error: Error; readonly started: boolean }
  /** A retryable status was received and its body drained; retry after `delayMs`. */
  | { readonly kind: 'status'; readonly status: number; readonly delayMs: number }
  /** The flow gave up on the attempt (deadline, caller abort, or another attempt won). */
  | { readonly kind: 'abandoned' };

/** What the flow answers when response headers arrive. @internal */
export type StatusDecision = { readonly retry: false } | { readonly retry: true; readonly delayMs: number };

/** The request flow, as an attempt sees it. @internal */
export interface AttemptOwner {
  /** Decides whether a status is retried (synchronously, before anything reaches the caller); `now` is when the headers came. */
  decideStatus(attempt: AttemptHandler, status: number, headers: HeaderRecord, now: MonotonicMs): StatusDecision;
  /** Hands the response to the caller. */
  commit(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: HeaderRecord, statusMessage: string | undefined): void;
  /** Hands an upgraded socket to the caller. */
  commitUpgrade(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: HeaderRecord, socket: unknown): void;
  /** The caller's handler (for body chunks and the end once committed). */
  readonly userHandler: Dispatcher.DispatchHandler;
  /** The controller the caller holds. */
  readonly userController: Dispatcher.DispatchController;
  /** Called once the committed response has ended, or failed with `error`. */
  finished(error?: Error): void;
  /** An attempt given up on (a hedge that lost, the deadline) failed afterwards: its endpoint's health may still learn from it. */
  abandonedError?(attempt: AttemptHandler, error: Error): void;
  /** Undici handed the attempt to a connection: from now on it may have reached the server. */
  attemptStarted(attempt: AttemptHandler): void;
  /** The attempt is decided. */
  settled(attempt: AttemptHandler, outcome: AttemptOutcome): void;
  /** The attempt's endpoint was ejected or found silent while the attempt awaited headers. */
  endpointLost(attempt: AttemptHandler, reason: string): void;
}

/**
 * How often an attempt's body is checked for idleness under `bodyTimeoutMs`: an eighth of it, at most a
 * second, so the timeout fires at most that late; a chunk then costs a flag, not a timer. @internal
 */
export function bodyCheckInterval(bodyTimeoutMs: number): number {
  return Math.max(1, Math.min(1_000, Math.ceil(bodyTimeoutMs / 8)));
}

const committed: AttemptOutcome = Object.freeze({ kind: 'committed' });
const abandoned: AttemptOutcome = Object.freeze({ kind: 'abandoned' });

/** Drained bodies larger than this are cut by closing the connection instead. */
const maxDrainBytes = 256 * 1024;

/**
 * The undici handler of one attempt. Until response headers are accepted nothing reaches the caller,
 * so the flow can still retry elsewhere; after that every callback is passed through.
 *
 * The attempt's time to response headers (`attemptTimeout`) and the idle time between body chunks
 * (`bodyTimeout`) are ridethrough's own timers, not undici's (whose timers tick every half second or so,
 * and whose parser makes a new timer each time a connection's delay changes): the pools run with
 * undici's headers and body timeouts off. Both timers are entries on the agent's deadline queues; the
 * first attempt of the hot path keeps its time-to-headers timer on the request flow's own entry (the flow
 * calls {@link expire}): one entry per request instead of two. Once headers are in, the same entry moves
 * to the body queue, where it is checked every {@link bodyCheckInterval}: a body chunk only marks the
 * attempt active (no clock read, no queue work per chunk), and the check fails the response once no
 * chunk came for `bodyTimeout`, at most one interval late.
 * @internal
 */
export class AttemptHandler implements Dispatcher.DispatchHandler, DeadlineEntry, InFlightAttempt {
  /** Whether undici handed the request to a connection (it may then have reached the server). */
  started = false;
  /** The controller of this attempt's undici request, once started. */
  controller: Dispatcher.DispatchController | undefined;

  /** Set once the endpoint was reported lost for this attempt (each attempt is moved or hedged once). */
  lost = false;
  /** @internal */ inFlightPrev: InFlightAttempt | undefined = undefined;
  /** @internal */ inFlightNext: InFlightAttempt | undefined = undefined;
  private abandoned = false;
  private committed = false;
  private drain: { status: number; delayMs: number; bytes: number } | undefined;
  /** How the attempt ended, once decided. */
  private result: AttemptOutcome | undefined;
  /** When the attempt times out without response headers; set by the deadline queue. @internal */
  deadlineExpiresAt: MonotonicMs = never;
  /** @internal */ deadlinePrev: DeadlineEntry | undefined = undefined;
  /** @internal */ deadlineNext: DeadlineEntry | undefined = undefined;
  /** @internal */ deadlineList: DeadlineEntry['deadlineList'] = undefined;
  /** Whether the entry is on the body queue (headers are in, the body is being read). */
  private watchingBody = false;
  /** A body chunk came since the last body check. */
  private bodyActive = false;
  /** The body check that last saw activity (or when headers came): idle time counts from here. */
  private bodyIdleSince: MonotonicMs = never;

  /**
   * @param owner - the request flow
   * @param endpoint - the endpoint this attempt goes to
   * @param number - 1-based attempt number
   * @param startedAt - when the attempt is dispatched
   * @param timeouts - the queue the time-to-headers timer goes on; undefined when the owner keeps the timer (and calls {@link expire})
   * @param timeoutMs - how long the attempt may wait for response headers (0: no limit)
   * @param bodyTimeouts - the queue the body timer goes on
   * @param bodyTimeoutMs - the longest wait for a body chunk (0: no limit)
   */
  constructor(
    private readonly owner: AttemptOwner,
    readonly endpoint: Endpoint,
    readonly number: number,
    readonly startedAt: MonotonicMs,
    private readonly timeouts: Deadlines | undefined,
    private readonly timeoutMs: number,
    private readonly bodyTimeouts: Deadlines,
    private readonly bodyTimeoutMs: number,
  ) {
    endpoint.inFlight++;
    endpoint.attempts++;
    endpoint.link(this);
    if (timeoutMs > 0) timeouts?.add(this, timeoutMs, startedAt);
  }

  /** The endpoint was ejected or found silent (called by the endpoint): the owner decides, once. @internal */
  endpointLost(reason: string): void {
    if (this.lost || this.result || this.abandoned) return;
    this.lost = true;
    this.owner.endpointLost(this, reason);
  }

  /** The deadline queue's call: the entry is on the body queue once headers are in, else on the attempt queue. @internal */
  expire(): void {
    if (this.watchingBody) this.checkBody();
    else this.headersExpired();
  }

  /**
   * No response headers within the attempt timeout (called by the deadline queue, or by the flow that keeps the timer). On a connection the
   * request is aborted, which destroys the connection as undici's own headers timeout does, and the
   * attempt fails with undici's `UND_ERR_HEADERS_TIMEOUT` (it may have reached the server). Still
   * connecting or queued, it never left: it fails as not sent, and undici drops it if it starts later.
   * @internal
   */
  headersExpired(): void {
    // Decided, given up on, or headers came (a retried status being drained has its body timer).
    if (this.result || this.abandoned || this.drain) return;
    const error = new errors.HeadersTimeoutError(`ridethrough: no response headers within the attempt timeout of ${this.timeoutMs} ms`);
    if (this.controller) {
      this.controller.abort(error);
      return;
    }
    this.abandoned = true;
    this.done({ kind: 'error', error, started: false });
  }

  /**
   * The body check: a chunk since the last one (or a caller who paused the response: that time does not
   * count) restarts the idle time. No chunk for the body timeout, and the response fails with undici's
   * `UND_ERR_BODY_TIMEOUT`, as undici's own body timeout fails it.
   */
  private checkBody(): void {
    const now = monotonicNow();
    if (this.bodyActive || (this.committed && this.owner.userController.paused)) {
      this.bodyActive = false;
      this.bodyIdleSince = now;
    }
    if (now - this.bodyIdleSince < this.bodyTimeoutMs) {
      this.bodyTimeouts.add(this, bodyCheckInterval(this.bodyTimeoutMs), now);
      return;
    }
    this.watchingBody = false;
    // undici's own error and message, as its body timeout gives.
    this.controller?.abort(new errors.BodyTimeoutError());
  }

  /** Headers are in (at `now`): the entry goes on the body queue. */
  private watchBody(now: MonotonicMs): void {
    if (this.bodyTimeoutMs <= 0) return;
    this.watchingBody = true;
    this.bodyActive = false;
    this.bodyIdleSince = now;
    this.bodyTimeouts.add(this, bodyCheckInterval(this.bodyTimeoutMs), now);
  }

  private unwatchBody(): void {
    if (!this.watchingBody) return;
    this.watchingBody = false;
    this.bodyTimeouts.remove(this);
  }

  /** Gives up on this attempt: aborts it if it is on a connection, and ignores whatever it reports. */
  abandon(reason: Error): void {
    if (this.abandoned || this.committed) return;
    this.unwatchBody();
    this.abandoned = true;
    this.controller?.abort(reason);
    this.done(abandoned);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.started = true;
    if (this.abandoned) {
      // An abort, not an error: undici's instrumentation then ends the attempt's span without error status.
      controller.abort(new DOMException('ridethrough: attempt abandoned', 'AbortError'));
      return;
    }
    this.owner.attemptStarted(this);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, socket: unknown): void {
    if (this.abandoned) return;
    this.committed = true;
    this.release();
    this.done(committed);
    this.owner.commitUpgrade(this, controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, statusMessage?: string): void {
    if (this.abandoned) return;
    // Informational responses (100 Continue, 103 Early Hints) are not the final answer.
    if (statusCode < 200) return;
    this.endpoint.unlink(this);
    // One clock read serves the latency, the endpoint's health and the body timer (a read costs ~50 ns on a VM).
    const now = monotonicNow();
    const decision = this.owner.decideStatus(this, statusCode, headers, now);
    if (decision.retry) {
      // Headers came: the attempt timer is done; the body being drained has the body timer.
      // (A committed attempt's timer is taken off by done().)
      this.timeouts?.remove(this);
      this.drain = { status: statusCode, delayMs: decision.delayMs, bytes: 0 };
      this.watchBody(now);
      return;
    }
    this.committed = true;
    this.done(committed);
    this.watchBody(now);
    this.owner.commit(this, controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.abandoned) return;
    // Data: the next body check restarts the idle time.
    this.bodyActive = true;
    if (this.drain) {
      this.drain.bytes += chunk.length;
      // A large error body is not worth reading to keep one connection: drop the connection instead.
      if (this.drain.bytes > maxDrainBytes) controller.abort(new DOMException('ridethrough: retried response body too large to drain', 'AbortError'));
      return;
    }
    if (this.committed) this.owner.userHandler.onResponseData?.(this.owner.userController, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: HeaderRecord): void {
    this.unwatchBody();
    if (this.abandoned) return;
    this.release();
    if (this.drain) {
      this.done({ kind: 'status', status: this.drain.status, delayMs: this.drain.delayMs });
      return;
    }
    if (!this.committed) return;
    (this.owner.userController as { rawTrailers?: unknown }).rawTrailers = controller.rawTrailers;
    try {
      this.owner.userHandler.onResponseEnd?.(this.owner.userController, trailers);
    } finally {
      this.owner.finished();
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.unwatchBody();
    this.release();
    if (this.abandoned) {
      this.owner.abandonedError?.(this, error);
      return;
    }
    if (this.drain) {
      this.done({ kind: 'status', status: this.drain.status, delayMs: this.drain.delayMs });
      return;
    }
    if (this.committed) {
      try {
        this.owner.userHandler.onResponseError?.(this.owner.userController, error);
      } finally {
        this.owner.finished(error);
      }
      return;
    }
    this.done({ kind: 'error', error, started: this.started });
  }

  onResponseStarted(): void {
    // Forwarded by the flow when the response is committed.
  }

  onBodySent(chunk: Buffer): void {
    if (!this.abandoned) this.owner.userHandler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    if (!this.abandoned) this.owner.userHandler.onRequestSent?.();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.endpoint.inFlight--;
    this.endpoint.unlink(this);
  }

  private done(outcome: AttemptOutcome): void {
    if (this.result) return;
    this.timeouts?.remove(this);
    if (outcome.kind !== 'committed') this.release();
    this.result = outcome;
    this.owner.settled(this, outcome);
  }
}
