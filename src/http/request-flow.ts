import type { Dispatcher } from 'undici';
import { type AttemptOutcome, AttemptHandler, type AttemptOwner, type StatusDecision } from './attempt.js';
import { RequestBody } from './body.js';
import { classifyError, errorCode, isConnectFailure } from '../policy/failure.js';
import { isIdempotent, normalizeMethod } from '../policy/idempotency.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import type { BreakerTicket, BreakerVerdict } from '../health/circuit-breaker.js';
import {
  type AttemptRecord,
  AttemptsExhaustedError,
  BudgetExhaustedError,
  CircuitOpenError,
  DeadlineExceededError,
  DnsResolutionError,
  NoEndpointError,
  NotRetryableError,
  RidethroughError,
} from '../errors/errors.js';
import { publish, subscribed } from '../events/channels.js';
import { Backoff } from '../policy/backoff.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import type { OriginState, ResilienceContext } from '../core/context.js';
import type { DeadlineEntry } from '../timing/deadlines.js';
import type { HedgeOptions, RequestOverrides, ResolvedOptions } from '../core/options.js';
import { type ParsedOrigin, parseOrigin } from './origin.js';

/** Sends attempts to endpoints: the agent through its own pools, the interceptor through the next dispatcher. @internal */
export interface AttemptTransport {
  /** Sends one attempt to one endpoint. */
  send(origin: ParsedOrigin, endpoint: Endpoint, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void;
  /** True when the transport's pools already carry the options' body timeout and the undici headers timeout that goes with it, so requests need not. */
  readonly appliesTimeouts: boolean;
}

/** Extra per-request input that does not travel in dispatch options. @internal */
export interface FlowExtras {
  /** Overrides from a {@link ResilientAgent.with} view or `resilientFetch`. */
  readonly overrides?: RequestOverrides;
  /** Bytes equal to the request body, so a one-shot body handed over by fetch can be replayed. */
  readonly replayBody?: Uint8Array | string | null;
}

/** Dispatch options plus ridethrough's own per-request key. */
export type ResilientDispatchOptions = Dispatcher.DispatchOptions & { ridethrough?: RequestOverrides };

class Interrupted extends Error {}

/** The part of a request's state that only retries, backoffs and failures need: most requests never make one. */
class RetryState {
  /** The backoff sequence, made on the first retry. */
  backoff: Backoff | undefined = undefined;
  /** Addresses tried so far (made on the second attempt). */
  tried: string[] | undefined = undefined;
  /** What each attempt did, for errors and events. */
  readonly records: AttemptRecord[] = [];
  /** The backoff timer while waiting to retry. */
  sleepTimer: NodeJS.Timeout | undefined = undefined;
  /** Ends whatever the retry loop awaits (deadline, abort, failure). */
  interruptReject: ((err: Error) => void) | undefined = undefined;
  interrupt: Promise<never> | undefined = undefined;
}

const noOverrides: RequestOverrides = Object.freeze({});
const noExtras: FlowExtras = Object.freeze({});
const noRecords: readonly AttemptRecord[] = Object.freeze([]);
const noRetry: StatusDecision = Object.freeze({ retry: false });
/** No attempt on the wire (shared: never mutated). */
const noAttempts: readonly AttemptHandler[] = Object.freeze([]);

/**
 * One request's way through ridethrough: resolve → pick endpoint → attempt → classify → retry or return.
 * Nothing reaches the caller's handler until an attempt's response is accepted, so failures before
 * that point can be retried on another endpoint within the deadline.
 *
 * The flow is also the controller the caller's handler holds (one object per request, not two): abort
 * and pause reach whichever attempt is current.
 * @internal
 */
export class RequestFlow implements AttemptOwner, DeadlineEntry, Dispatcher.DispatchController {
  readonly userHandler: Dispatcher.DispatchHandler;
  /** The response's raw headers, as the controller the caller holds shows them. */
  rawHeaders: Buffer[] | string[] | null = null;
  /** The response's raw trailers, as the controller the caller holds shows them. */
  rawTrailers: Buffer[] | string[] | null = null;
  private abortReason: Error | null = null;
  private isPaused = false;
  /** The attempt whose response was handed to the caller, or the latest one started. */
  current: AttemptHandler | undefined;
  /** The attempt on the wire now, when there is exactly one and {@link runningMany} is unset (no array per request). */
  private runningOne: AttemptHandler | undefined = undefined;
  /** The attempts on the wire now once a hedge joined the first (then {@link runningOne} is unset). */
  private runningMany: AttemptHandler[] | undefined = undefined;
  /** The first attempt when start() sent it synchronously (the hot path); its outcome comes to {@link settled}. */
  private fastAttempt: AttemptHandler | undefined;

  private readonly origin: ParsedOrigin;
  private readonly state: OriginState;
  private readonly hedge: HedgeOptions | undefined;
  private ticket: BreakerTicket | undefined;
  private readonly opts: ResilientDispatchOptions;
  private readonly body: RequestBody;
  private readonly method: string;
  private readonly idempotent: boolean;
  private readonly deadlineMs: number;
  /** How long each attempt may wait for response headers (0: no limit). */
  private readonly attemptTimeoutMs: number;
  private readonly maxAttempts: number;
  /** What only a request that retries, waits or fails needs (made on first use: most requests never do). */
  private retry: RetryState | undefined = undefined;
  private attemptCount = 0;
  private lastAddress: string | undefined;
  private done = false;
  /** When the overall deadline passes (performance.now(): a monotonic clock). */
  private deadlineAt = 0;
  /**
   * True while the flow's entry on the deadline queue stands in for its first attempt's time-to-headers
   * timer (the hot path: one queue entry per request instead of two); when it fires, the entry moves on
   * to the overall deadline.
   */
  private attemptTimerOnFlow = false;
  /** When this flow's deadline-queue entry fires (performance.now()); set by the queue. @internal */
  deadlineExpiresAt = 0;
  /** @internal */ deadlinePrev: DeadlineEntry | undefined = undefined;
  /** @internal */ deadlineNext: DeadlineEntry | undefined = undefined;
  /** @internal */ deadlineList: DeadlineEntry['deadlineList'] = undefined;

  /**
   * @param ctx - the shared state (options, DNS cache, endpoints)
   * @param transport - how an attempt is sent
   * @param opts - the caller's dispatch options
   * @param handler - the caller's handler (undici 8 shape)
   * @param extras - overrides and a replayable body
   */
  constructor(
    private readonly ctx: ResilienceContext,
    private readonly transport: AttemptTransport,
    opts: ResilientDispatchOptions,
    handler: Dispatcher.DispatchHandler,
    extras: FlowExtras = noExtras,
  ) {
    const ridethrough = opts.ridethrough;
    const overrides = ridethrough === undefined ? (extras.overrides ?? noOverrides) : extras.overrides === undefined ? ridethrough : { ...extras.overrides, ...ridethrough };
    const o = ctx.options;
    this.userHandler = handler;
    this.origin = parseOrigin(opts.origin);
    this.state = ctx.originFor(this.origin);
    this.method = normalizeMethod(opts.method);
    this.body = RequestBody.of(opts.body, extras.replayBody);
    this.idempotent = isIdempotent(this.method, opts.headers, overrides.idempotent);
    this.deadlineMs = overrides.deadline ?? o.deadline;
    this.maxAttempts = overrides.maxAttempts ?? o.maxAttempts;
    const hedge = overrides.hedge ?? o.hedge;
    this.hedge = hedge && this.idempotent && this.body.replayable ? hedge : undefined;
    const attemptTimeout = overrides.attemptTimeout;
    // The time to headers is the attempts' own timer (AttemptHandler); a caller's undici headersTimeout sets it too.
    this.attemptTimeoutMs = attemptTimeout ?? opts.headersTimeout ?? o.attemptTimeout;
    if (transport.appliesTimeouts && ridethrough === undefined && attemptTimeout === undefined && this.body.value === (opts.body ?? undefined)) {
      // Nothing to change: the caller's options go to undici as they are.
      this.opts = opts;
    } else {
      const bodyTimeout = opts.bodyTimeout ?? o.bodyTimeout;
      this.opts = {
        ...opts,
        // ridethrough's own options stay here; undici would ignore them anyway.
        ridethrough: undefined,
        body: this.body.value as Dispatcher.DispatchOptions['body'],
        headersTimeout: undiciHeadersTimeout(bodyTimeout, this.attemptTimeoutMs),
        bodyTimeout,
      };
    }
  }

  /** Starts the flow. Errors reach the caller's handler, never the caller of start(). */
  start(): void {
    // Numbers do not travel between functions here unless they must: a timestamp passed to a function
    // V8 did not inline is boxed, an allocation per request. One clock read serves the deadline, the
    // first attempt's timer, the DNS answer's freshness and (when the request ends) the retry budget.
    const now = performance.now();
    this.deadlineAt = now + this.deadlineMs;
    const attemptTimeout = this.attemptTimeoutMs;
    // The hot path sends the first attempt from here: when its timer fires before the deadline, the
    // flow's queue entry is that timer (see expire()); otherwise the entry is the deadline.
    if (attemptTimeout > 0 && attemptTimeout < this.deadlineMs && !this.hedge) {
      this.attemptTimerOnFlow = true;
      this.ctx.deadlines.add(this, attemptTimeout, now);
    } else {
      this.ctx.deadlines.add(this, this.deadlineMs, now);
    }
    try {
      // As undici does: the context is null for HTTP/1.1 and HTTP/2 requests.
      this.userHandler.onRequestStart?.(this, null);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.done) return;
    const breaker = this.state.breaker;
    if (breaker) {
      this.ticket = breaker.acquire();
      if (!this.ticket) {
        this.fail(new CircuitOpenError(this.origin.key, breaker.retryAt, { attempts: [] }));
        return;
      }
    }
    // The hot path: a fresh DNS answer and no hedging. The first attempt goes out now, synchronously,
    // and its outcome comes back through settled(); only a failure enters the async retry loop.
    if (!this.hedge) {
      const answer = this.ctx.freshAnswer(this.state, this.origin.hostname, now);
      if (answer) {
        this.endpoints.update(answer);
        const endpoint = this.endpoints.pickFirst();
        if (endpoint) {
          this.startAttempt(endpoint, true);
          return;
        }
      }
    }
    this.run().catch((err: unknown) => this.fail(toError(err)));
  }

  /** The controller the caller's handler holds: this flow. */
  get userController(): Dispatcher.DispatchController {
    return this;
  }

  /** Whether the caller aborted the request. */
  get aborted(): boolean {
    return this.abortReason !== null;
  }

  /** Why the caller aborted, if it did. */
  get reason(): Error | null {
    return this.abortReason;
  }

  /** Whether the caller paused the response. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** Caller abort: stops whatever is going on and reports the reason to the caller's handler. */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason ?? new DOMException('The operation was aborted.', 'AbortError');
    if (this.done) return;
    if (this.current && this.isCommitted) {
      this.current.controller?.abort(this.abortReason);
      return;
    }
    this.abandonRunning(this.abortReason);
    this.fail(this.abortReason);
  }

  /** Pauses the response (backpressure from the caller). */
  pause(): void {
    this.isPaused = true;
    this.current?.controller?.pause();
  }

  /** Resumes a paused response. */
  resume(): void {
    this.isPaused = false;
    this.current?.controller?.resume();
  }

  /** The outcome of the attempt start() sent synchronously. @internal */
  settled(attempt: AttemptHandler, outcome: AttemptOutcome): void {
    if (attempt !== this.fastAttempt) return;
    this.fastAttempt = undefined;
    // A committed attempt is taken off the running list by commit().
    if (outcome.kind === 'committed') return;
    this.stopRunning(attempt);
    if (this.done || outcome.kind === 'abandoned') return;
    this.afterOutcome(attempt, outcome)
      .then((again) => (again ? this.run() : undefined))
      .catch((err: unknown) => this.fail(toError(err)));
  }

  /** Called when an attempt is handed to a connection (its body may be read from now on). @internal */
  attemptStarted(): void {
    if (this.body.opaque) this.body.markSent();
  }

  private isCommitted = false;

  /** The retry loop: resolve → pick endpoint → attempt → classify → retry or return. */
  private async run(): Promise<void> {
    while (!this.done) {
      let endpoint: Endpoint;
      try {
        endpoint = await this.chooseEndpoint();
      } catch (err) {
        if (this.done || err instanceof Interrupted) return;
        if (err instanceof DnsResolutionError && !err.retryable) {
          this.fail(new DnsResolutionError(err.hostname, err.dnsCode, { ...this.errorOptions(err), retryable: false }));
          return;
        }
        const dnsCode = err instanceof DnsResolutionError ? err.dnsCode : errorCode(err);
        this.record({ attempt: ++this.attemptCount, address: undefined, code: dnsCode, status: undefined, durationMs: 0, maybeSent: false });
        if (!(await this.retryAfterFailure(err as Error, undefined, dnsCode, this.backoff().next()))) return;
        continue;
      }
      if (this.done) return;
      const { attempt, outcome } = await this.attemptRound(endpoint);
      if (!(await this.afterOutcome(attempt, outcome))) return;
    }
  }

  /** Classifies a round's outcome: true when another attempt should follow (after any backoff). */
  private async afterOutcome(attempt: AttemptHandler, outcome: AttemptOutcome): Promise<boolean> {
    if (this.done || outcome.kind === 'committed' || outcome.kind === 'abandoned') return false;
    if (outcome.kind === 'status') return this.retryAfterFailure(undefined, attempt.endpoint.address.address, `HTTP ${outcome.status}`, outcome.delayMs);
    return this.decideAfterError(attempt, outcome.error, outcome.started);
  }

  /** Resolves the host and picks where the next attempt goes. */
  private async chooseEndpoint(): Promise<Endpoint> {
    const hostname = this.origin.hostname;
    const answer = await this.race(this.ctx.dns.resolve(hostname));
    this.endpoints.update(answer);
    // After a failure a fresh resolution may be on its way; if nowhere new is left to go, wait for it.
    const pending = this.ctx.dns.pending(hostname);
    if (pending && this.attemptCount > 0 && !this.endpoints.hasUntried(this.triedAddresses(), Date.now())) {
      try {
        this.endpoints.update(await this.race(pending));
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        // DNS failed: the stale answer above stays in use.
      }
    }
    const endpoint = this.endpoints.pick(this.triedAddresses(), this.lastAddress, Date.now());
    if (!endpoint) throw new NoEndpointError(hostname, { origin: this.origin.key });
    return endpoint;
  }

  /**
   * Starts one attempt on `endpoint`.
   * @param fast - the first attempt, sent synchronously by start(): it started when the request did
   */
  private startAttempt(endpoint: Endpoint, fast = false): AttemptHandler {
    const number = ++this.attemptCount;
    const startedAt = fast ? this.startedAt : performance.now();
    // The first attempt of the hot path has its timer on the flow's own queue entry (start()).
    const timeouts = fast && this.attemptTimerOnFlow ? undefined : this.ctx.attemptDeadlines;
    const handler = new AttemptHandler(this, endpoint, number, startedAt, timeouts, this.attemptTimeoutMs);
    const address = endpoint.address.address;
    if (fast) this.fastAttempt = handler;
    this.current = handler;
    this.addRunning(handler);
    if (number > 1) {
      const tried = this.triedAddresses()!;
      if (!tried.includes(address)) tried.push(address);
    }
    this.lastAddress = address;
    if (subscribed('attempt')) {
      const hedge = this.runningCount > 1;
      publish('attempt', () => ({ origin: this.origin.key, method: this.method, attempt: number, address, hedge }));
    }
    try {
      this.transport.send(this.origin, endpoint, this.opts, handler);
    } catch (err) {
      handler.onResponseError(null, err as Error);
    }
    return handler;
  }

  /**
   * Runs one attempt, plus hedged attempts on other endpoints when hedging is on and no response came
   * within the hedge delay. Returns the attempt that decided the round: the one whose response was
   * accepted, or the last to fail.
   */
  private async attemptRound(first: Endpoint): Promise<{ attempt: AttemptHandler; outcome: AttemptOutcome }> {
    if (!this.hedge) {
      // One attempt at a time: the deadline and caller aborts settle it (as abandoned), no race needed.
      const attempt = this.startAttempt(first);
      const outcome = await attempt.outcome();
      this.stopRunning(attempt);
      return { attempt, outcome };
    }
    const pending = new Map<AttemptHandler, Promise<{ attempt: AttemptHandler; outcome: AttemptOutcome }>>();
    const track = (a: AttemptHandler): void => {
      pending.set(a, a.outcome().then((outcome) => ({ attempt: a, outcome })));
    };
    const primary = this.startAttempt(first);
    track(primary);
    let hedgesLeft = this.hedge ? (this.hedge.maxHedges ?? 1) : 0;
    let hedgeTimer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        let fire: Promise<'hedge'> | undefined;
        if (hedgesLeft > 0 && this.attemptCount < this.maxAttempts) {
          fire = new Promise((resolve) => {
            hedgeTimer = setTimeout(() => resolve('hedge'), this.hedgeDelay());
          });
        }
        const next = await this.race(Promise.race<'hedge' | { attempt: AttemptHandler; outcome: AttemptOutcome }>(fire ? [...pending.values(), fire] : pending.values()));
        if (hedgeTimer) clearTimeout(hedgeTimer);
        hedgeTimer = undefined;
        if (next === 'hedge') {
          hedgesLeft--;
          const other = this.endpoints.pick(this.triedAddresses(), this.lastAddress, Date.now());
          if (other && !this.triedAddresses()!.includes(other.address.address) && (!this.state.budget || this.state.budget.tryWithdraw())) {
            publish('hedge', () => ({ origin: this.origin.key, method: this.method, address: other.address.address, delayMs: Math.round(performance.now() - primary.startedAt) }));
            track(this.startAttempt(other));
          }
          continue;
        }
        pending.delete(next.attempt);
        this.stopRunning(next.attempt);
        const { outcome } = next;
        if (outcome.kind === 'committed' || outcome.kind === 'abandoned' || pending.size === 0) return next;
        // Another attempt of this round is still on its way: note this failure and wait for that one.
        if (outcome.kind === 'error') this.noteError(next.attempt, outcome.error, outcome.started);
        else this.noteStatus(next.attempt, outcome.status);
      }
    } catch (err) {
      if (hedgeTimer) clearTimeout(hedgeTimer);
      throw err;
    }
  }

  /** The request's backoff sequence, made on the first retry (most requests never need one). */
  private backoff(): Backoff {
    const retry = this.retryState();
    retry.backoff ??= new Backoff(this.ctx.options.backoff);
    return retry.backoff;
  }

  private hedgeDelay(): number {
    const h = this.hedge!;
    const fallback = h.delay ?? 100;
    if (h.percentile === undefined || this.state.latencies.size < 20) return fallback;
    return Math.max(h.minDelay ?? 5, this.state.latencies.percentile(h.percentile) ?? fallback);
  }

  /** Records an attempt's error in the attempt list and in endpoint health; returns its class. */
  private noteError(attempt: AttemptHandler, error: Error, started: boolean): ReturnType<typeof classifyError> {
    const now = Date.now();
    const code = errorCode(error);
    const cls = classifyError(error, started);
    const endpoint = attempt.endpoint;
    this.record({
      attempt: attempt.number,
      address: endpoint.address.address,
      code,
      status: undefined,
      durationMs: Math.round(performance.now() - attempt.startedAt),
      maybeSent: cls === 'maybe-sent',
    });
    if (cls === 'fatal') return cls;
    if (isConnectFailure(error) || !started) this.endpoints.failed(endpoint, 'connect', code, now);
    else if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') this.endpoints.failed(endpoint, 'outlier', code, now);
    // A reset before any response: often a keep-alive race, sometimes a dying pod.
    else this.endpoints.failed(endpoint, 'soft', code, now);
    // Whatever failed, the answer may be stale: look again (rate-limited).
    this.ctx.dns.reportFailure(this.origin.hostname);
    return cls;
  }

  /** Records a retryable status of an attempt that lost to another (its body was drained). */
  private noteStatus(attempt: AttemptHandler, status: number): void {
    this.record({ attempt: attempt.number, address: attempt.endpoint.address.address, code: undefined, status, durationMs: Math.round(performance.now() - attempt.startedAt), maybeSent: true });
  }

  /** Classifies the deciding attempt's error and retries or gives up. */
  private async decideAfterError(attempt: AttemptHandler, error: Error, started: boolean): Promise<boolean> {
    const cls = this.noteError(attempt, error, started);
    if (cls === 'fatal') {
      this.fail(error);
      return false;
    }
    if (!this.body.canSend) {
      this.fail(new NotRetryableError('body-not-replayable', this.errorOptions(error)));
      return false;
    }
    if (cls === 'maybe-sent') {
      if (!this.idempotent) {
        this.fail(new NotRetryableError('not-idempotent', this.errorOptions(error)));
        return false;
      }
      // The request may have loaded the server: this retry is paid from the budget.
      if (this.attemptCount < this.maxAttempts && this.state.budget && !this.state.budget.tryWithdraw()) {
        this.giveUp(new BudgetExhaustedError(this.errorOptions(error)));
        return false;
      }
    }
    return this.retryAfterFailure(error, attempt.endpoint.address.address, errorCode(error), this.backoff().next());
  }

  /** Waits `delayMs` and returns true when another attempt fits; otherwise fails the request and returns false. */
  private async retryAfterFailure(error: Error | undefined, address: string | undefined, reason: string, delayMs: number): Promise<boolean> {
    if (this.attemptCount >= this.maxAttempts) {
      this.giveUp(new AttemptsExhaustedError(this.maxAttempts, this.errorOptions(error)));
      return false;
    }
    if (performance.now() + delayMs >= this.deadlineAt) {
      this.giveUp(new DeadlineExceededError(this.deadlineMs, this.errorOptions(error)));
      return false;
    }
    publish('retry', () => ({ origin: this.origin.key, method: this.method, attempt: this.attemptCount, address, reason, delayMs }));
    try {
      await this.race(new Promise<void>((resolve) => {
        this.retryState().sleepTimer = setTimeout(resolve, delayMs);
      }));
    } catch {
      return false;
    } finally {
      this.retryState().sleepTimer = undefined;
    }
    return !this.done;
  }

  decideStatus(attempt: AttemptHandler, status: number, headers: Record<string, string | string[] | undefined>): StatusDecision {
    const o = this.ctx.options;
    const t = performance.now();
    const latency = t - attempt.startedAt;
    this.state.latencies.add(latency);
    const listed = isListedStatus(o, status);
    // A 429 is retried only when it says when (Retry-After); without, it is an answer like any other.
    const retryAfter = listed || status === 429 ? parseRetryAfter(headers['retry-after'], Date.now()) : undefined;
    if (!listed && retryAfter === undefined) {
      // Only answers that count as working teach the latency average (a fast 503 is no good sign).
      attempt.endpoint.recordLatency(latency);
      this.endpoints.succeeded(attempt.endpoint);
      return noRetry;
    }
    const now = Date.now();
    this.endpoints.failed(attempt.endpoint, 'outlier', `HTTP ${status}`, now);
    // Another attempt of a hedged round still running: let that one answer instead.
    if (this.runningCount > 1 && this.body.canSend) return { retry: true, delayMs: 0 };
    if (!this.idempotent || !this.body.canSend || this.attemptCount >= this.maxAttempts) return noRetry;
    if (retryAfter !== undefined && retryAfter > o.maxRetryAfter) return noRetry;
    const delayMs = retryAfter ?? this.backoff().next();
    if (t + delayMs >= this.deadlineAt) return noRetry;
    // A retry after a response loads the server: it is paid from the budget (none left: the caller gets this response).
    if (this.state.budget && !this.state.budget.tryWithdraw()) return noRetry;
    this.noteStatus(attempt, status);
    return { retry: true, delayMs };
  }

  commit(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, statusMessage: string | undefined): void {
    this.isCommitted = true;
    this.current = attempt;
    this.stopRunning(attempt);
    // Only hedged rounds have others on the wire; building an Error (a stack) per request is not free.
    if (this.runningMany !== undefined) this.abandonRunning(new Error('ridethrough: another attempt answered first'));
    this.clearDeadline();
    this.account(isListedStatus(this.ctx.options, status) ? 'unhealthy' : 'healthy');
    this.rawHeaders = (controller.rawHeaders as Buffer[] | null | undefined) ?? null;
    if (this.isPaused) controller.pause();
    this.userHandler.onResponseStarted?.();
    this.userHandler.onResponseStart?.(this, status, headers, statusMessage);
  }

  commitUpgrade(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, socket: unknown): void {
    this.isCommitted = true;
    this.current = attempt;
    this.stopRunning(attempt);
    // Only hedged rounds have others on the wire; building an Error (a stack) per request is not free.
    if (this.runningMany !== undefined) this.abandonRunning(new Error('ridethrough: another attempt answered first'));
    this.clearDeadline();
    this.account('healthy');
    this.rawHeaders = (controller.rawHeaders as Buffer[] | null | undefined) ?? null;
    this.done = true;
    (this.userHandler.onRequestUpgrade as ((c: unknown, s: number, h: unknown, so: unknown) => void) | undefined)?.(this, status, headers, socket);
  }

  finished(): void {
    this.done = true;
    this.clearDeadline();
  }

  abandonedError(attempt: AttemptHandler, error: Error): void {
    // A hedge loser still connecting to a dead address fails later: without this the address would never be ejected.
    if (isConnectFailure(error)) this.endpoints.failed(attempt.endpoint, 'connect', errorCode(error), Date.now());
  }

  /**
   * The flow's deadline-queue entry fired (called by the agent's deadline queue): the first attempt's
   * time to headers is up, or the overall deadline passed. @internal
   */
  expire(): void {
    if (this.done || this.isCommitted) return;
    if (this.attemptTimerOnFlow) {
      this.attemptTimerOnFlow = false;
      // From here on the entry is the overall deadline. Queued under the time that is left, entries reach
      // that list in the order their deadlines fall: they all left the attempt timer's list in start order.
      const rest = this.deadlineMs - this.attemptTimeoutMs;
      this.ctx.deadlines.add(this, rest, this.deadlineAt - rest);
      // The first attempt times out (a no-op when it has already ended, or is draining a retried status).
      this.fastAttempt?.expire();
      return;
    }
    // Attempts cut short by the deadline belong in the record (and tell the breaker an endpoint was reached).
    for (const a of this.runningList()) {
      this.record({ attempt: a.number, address: a.endpoint.address.address, code: 'RIDETHROUGH_DEADLINE_EXCEEDED', status: undefined, durationMs: Math.round(performance.now() - a.startedAt), maybeSent: a.started });
    }
    const error = new DeadlineExceededError(this.deadlineMs, this.errorOptions(undefined));
    this.abandonRunning(error);
    this.retry?.interruptReject?.(new Interrupted());
    this.giveUp(error);
  }

  private giveUp(error: RidethroughError): void {
    const event = () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records().length });
    if (error instanceof DeadlineExceededError) publish('deadline', event);
    this.fail(error);
  }

  /** Reports a terminal error to the caller's handler, once. */
  private fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.clearDeadline();
    this.account(breakerVerdict(error, this.records()));
    if (error instanceof RidethroughError) {
      publish('giveUp', () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records().length }));
    }
    this.retry?.interruptReject?.(new Interrupted());
    this.userHandler.onResponseError?.(this, error);
  }

  /**
   * The request has its answer or its error: the breaker learns the verdict, and the retry budget counts
   * the request (one that never got past an open breaker is not counted: it touched no socket).
   *
   * The budget counts a request when it ends rather than when it starts. Its retries are then paid from
   * the requests that ended before them, which only matters in the first moments of an outage and leaves
   * the (1 + ratio) × requests + floor bound as it is. It keeps the budget off the path that sends the
   * first attempt: with the deposit in start(), V8 (measured on Node 24) pretenured undici's
   * body-consume object in most loopback benchmark runs, and each later request's response objects
   * then lived until the next full collection (about 2 MB promoted per scavenge instead of 0.2 MB);
   * with it here, in none (docs/benchmarks.md, "What outlives a request").
   */
  private account(verdict: BreakerVerdict): void {
    // The request's start (performance.now(), as the budget counts time) stands in for "now": the budget's
    // buckets are a second wide, and this saves a clock read per request.
    if (this.attemptCount > 0) this.state.budget?.deposit(this.startedAt);
    const ticket = this.ticket;
    if (ticket === undefined) return;
    this.ticket = undefined;
    this.state.breaker!.release(ticket, verdict);
  }

  /** The attempts on the wire now, as a list (for the paths that are not the hot one). */
  private runningList(): readonly AttemptHandler[] {
    if (this.runningMany !== undefined) return this.runningMany;
    return this.runningOne === undefined ? noAttempts : [this.runningOne];
  }

  /** How many attempts are on the wire now. */
  private get runningCount(): number {
    return this.runningMany !== undefined ? this.runningMany.length : this.runningOne === undefined ? 0 : 1;
  }

  private addRunning(attempt: AttemptHandler): void {
    if (this.runningOne === undefined && this.runningMany === undefined) {
      this.runningOne = attempt;
      return;
    }
    this.runningMany = [...this.runningList(), attempt];
    this.runningOne = undefined;
  }

  private abandonRunning(reason: Error): void {
    const running = this.runningList();
    this.runningOne = undefined;
    this.runningMany = undefined;
    for (const a of running) a.abandon(reason);
  }

  private stopRunning(attempt: AttemptHandler): void {
    if (this.runningOne === attempt) {
      this.runningOne = undefined;
      return;
    }
    const many = this.runningMany;
    if (many === undefined || !many.includes(attempt)) return;
    const rest = many.filter((a) => a !== attempt);
    this.runningMany = rest.length > 0 ? rest : undefined;
  }

  /** When the request started (performance.now()): its deadline minus the deadline's length, as start() read the clock once. */
  private get startedAt(): number {
    return this.deadlineAt - this.deadlineMs;
  }

  /** The endpoints of the request's host. */
  private get endpoints(): EndpointSet {
    return this.state.endpoints;
  }

  /** The retry-only state, made on first use. */
  private retryState(): RetryState {
    return (this.retry ??= new RetryState());
  }

  /** The attempts recorded so far. */
  private records(): readonly AttemptRecord[] {
    return this.retry?.records ?? noRecords;
  }

  /** The addresses this request tried (undefined before its first attempt). */
  private triedAddresses(): string[] | undefined {
    if (this.lastAddress === undefined) return undefined;
    const retry = this.retryState();
    retry.tried ??= [this.lastAddress];
    return retry.tried;
  }

  private record(r: AttemptRecord): void {
    this.retryState().records.push(r);
  }

  private clearDeadline(): void {
    this.ctx.deadlines.remove(this);
    const retry = this.retry;
    if (retry?.sleepTimer !== undefined) {
      clearTimeout(retry.sleepTimer);
      retry.sleepTimer = undefined;
    }
  }

  private errorOptions(cause: unknown): { cause?: unknown; attempts: AttemptRecord[]; origin: string } {
    return { cause, attempts: this.records().slice(), origin: this.origin.key };
  }

  /** Awaits `p`, but rejects with Interrupted as soon as the flow ends (deadline, abort). */
  private race<T>(p: Promise<T>): Promise<T> {
    if (this.done) return Promise.reject(new Interrupted());
    const retry = this.retryState();
    if (!retry.interrupt) {
      retry.interrupt = new Promise<never>((_, reject) => {
        retry.interruptReject = reject;
      });
      retry.interrupt.catch(() => {});
    }
    return Promise.race([p, retry.interrupt]);
  }
}

/**
 * What the breaker learns from a request that failed: unhealthy when retries reached endpoints and could
 * not ride the failure out (deadline, attempts, budget, no endpoint). Neutral for DNS trouble, caller
 * aborts, and a single ambiguous failure that was not retried for safety (a POST reset when its pod was
 * killed): one pod going away resets every request in flight on it at once, which says nothing about the
 * pods that replace it.
 */
function breakerVerdict(error: Error, records: readonly AttemptRecord[]): BreakerVerdict {
  if (!(error instanceof RidethroughError) || error instanceof DnsResolutionError || error instanceof NotRetryableError) return 'neutral';
  return records.some((r) => r.address !== undefined) ? 'unhealthy' : 'neutral';
}

/** Whether `status` is one of the options' `retryStatuses` (all 400–599, validated: a success needs no lookup). */
function isListedStatus(o: ResolvedOptions, status: number): boolean {
  return status >= 400 && o.retryStatuses.has(status);
}

/**
 * The undici `headersTimeout` to send with ridethrough's own attempt timer in place: the body timeout,
 * so undici's parser keeps one timer for a connection's whole response instead of making a new one when
 * the headers arrive; off (0) when that would cut the attempt timeout short (ridethrough's timer bounds it).
 * @internal
 */
export function undiciHeadersTimeout(bodyTimeout: number, attemptTimeout: number): number {
  return bodyTimeout >= attemptTimeout ? bodyTimeout : 0;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
