import type { Dispatcher } from 'undici';
import { type AttemptOutcome, AttemptHandler, type AttemptOwner, type StatusDecision } from '../attempt/attempt-handler.js';
import { RequestBody } from '../attempt/body.js';
import { getHeader, withHost } from '../attempt/headers.js';
import { classifyError, errorCode, isConnectFailure } from '../classify/failure.js';
import { isIdempotent } from '../classify/idempotency.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import type { BreakerPermit, BreakerVerdict } from '../health/circuit-breaker.js';
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
import { publish } from '../events/channels.js';
import { Backoff } from '../retry/backoff.js';
import { parseRetryAfter } from '../retry/retry-after.js';
import type { OriginState, ResilienceContext } from './context.js';
import type { HedgeOptions, RequestOverrides } from './options.js';
import { type ParsedOrigin, parseOrigin } from './origin.js';

/** Sends one attempt to one endpoint: the agent uses its own pools, the interceptor the next dispatcher. @internal */
export type AttemptTransport = (origin: ParsedOrigin, endpoint: Endpoint, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => void;

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

/**
 * The controller the caller's handler holds: abort and pause reach whichever attempt is current.
 * @internal
 */
class FlowController implements Dispatcher.DispatchController {
  rawHeaders: Buffer[] | string[] | null = null;
  rawTrailers: Buffer[] | string[] | null = null;
  private abortReason: Error | null = null;
  private isPaused = false;

  constructor(private readonly flow: RequestFlow) {}

  get aborted(): boolean {
    return this.abortReason !== null;
  }

  get reason(): Error | null {
    return this.abortReason;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason ?? new DOMException('The operation was aborted.', 'AbortError');
    this.flow.abort(this.abortReason);
  }

  pause(): void {
    this.isPaused = true;
    this.flow.current?.controller?.pause();
  }

  resume(): void {
    this.isPaused = false;
    this.flow.current?.controller?.resume();
  }
}

/**
 * One request's way through ridethrough: resolve → pick endpoint → attempt → classify → retry or return.
 * Nothing reaches the caller's handler until an attempt's response is accepted, so failures before
 * that point can be retried on another endpoint within the deadline.
 * @internal
 */
export class RequestFlow implements AttemptOwner {
  readonly userHandler: Dispatcher.DispatchHandler;
  readonly userController: FlowController;
  /** The attempt whose response was handed to the caller, or the latest one started. */
  current: AttemptHandler | undefined;
  /** Attempts on the wire now (more than one while hedging). */
  private readonly running = new Set<AttemptHandler>();

  private readonly origin: ParsedOrigin;
  private readonly state: OriginState;
  private readonly endpoints: EndpointSet;
  private readonly hedge: HedgeOptions | undefined;
  private permit: BreakerPermit | undefined;
  private readonly opts: Dispatcher.DispatchOptions;
  private readonly body: RequestBody;
  private readonly method: string;
  private readonly idempotent: boolean;
  private readonly deadlineMs: number;
  private readonly maxAttempts: number;
  private readonly startedAt = Date.now();
  private readonly deadlineAt: number;
  private backoffState: Backoff | undefined;
  private readonly tried = new Set<string>();
  private readonly records: AttemptRecord[] = [];
  private attemptCount = 0;
  private lastAddress: string | undefined;
  private done = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private interruptReject: ((err: Error) => void) | undefined;
  private interrupt: Promise<never> | undefined;

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
    extras: FlowExtras = {},
  ) {
    const { ridethrough, ...rest } = opts;
    const overrides = { ...extras.overrides, ...ridethrough };
    const o = ctx.options;
    this.userHandler = handler;
    this.userController = new FlowController(this);
    this.origin = parseOrigin(opts.origin);
    this.state = ctx.originFor(this.origin);
    this.endpoints = this.state.endpoints;
    this.method = (opts.method ?? 'GET').toUpperCase();
    this.body = new RequestBody(opts.body, extras.replayBody);
    this.idempotent = isIdempotent(this.method, getHeader(opts.headers, 'idempotency-key') !== undefined, overrides.idempotent);
    this.deadlineMs = overrides.deadline ?? o.deadline;
    this.maxAttempts = overrides.maxAttempts ?? o.maxAttempts;
    this.deadlineAt = this.startedAt + this.deadlineMs;
    const hedge = overrides.hedge ?? o.hedge;
    this.hedge = hedge && this.idempotent && this.body.replayable ? hedge : undefined;
    this.opts = {
      ...rest,
      headers: withHost(opts.headers, this.origin.host) as Dispatcher.DispatchOptions['headers'],
      body: this.body.value as Dispatcher.DispatchOptions['body'],
      headersTimeout: overrides.attemptTimeout ?? opts.headersTimeout ?? o.attemptTimeout,
      bodyTimeout: opts.bodyTimeout ?? o.bodyTimeout,
    };
  }

  /** Starts the flow. Errors reach the caller's handler, never the caller of start(). */
  start(): void {
    this.deadlineTimer = setTimeout(() => this.onDeadline(), this.deadlineMs);
    try {
      this.userHandler.onRequestStart?.(this.userController, {});
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.done) return;
    const breaker = this.state.breaker;
    if (breaker) {
      this.permit = breaker.acquire();
      if (!this.permit) {
        this.fail(new CircuitOpenError(this.origin.key, breaker.retryAt, { attempts: [] }));
        return;
      }
    }
    this.state.budget?.deposit();
    this.run().catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }

  /** Caller abort: stops whatever is going on and reports the reason to the caller's handler. */
  abort(reason: Error): void {
    if (this.done) return;
    if (this.current && this.isCommitted) {
      this.current.controller?.abort(reason);
      return;
    }
    this.abandonRunning(reason);
    this.fail(reason);
  }

  private isCommitted = false;

  private async run(): Promise<void> {
    while (!this.done) {
      let endpoint: Endpoint | undefined = this.chooseEndpointNow();
      try {
        endpoint ??= await this.chooseEndpoint();
      } catch (err) {
        if (this.done || err instanceof Interrupted) return;
        if (err instanceof DnsResolutionError && !err.retryable) {
          this.fail(new DnsResolutionError(err.hostname, err.dnsCode, { ...this.errorOptions(err), retryable: false }));
          return;
        }
        const dnsCode = err instanceof DnsResolutionError ? err.dnsCode : errorCode(err);
        this.records.push({ attempt: ++this.attemptCount, address: undefined, code: dnsCode, status: undefined, durationMs: 0, maybeSent: false });
        if (!(await this.retryAfterFailure(err as Error, undefined, dnsCode, this.backoff().next()))) return;
        continue;
      }
      if (this.done) return;
      const { attempt, outcome } = await this.attemptRound(endpoint);
      if (this.done || outcome.kind === 'committed' || outcome.kind === 'abandoned') return;
      if (outcome.kind === 'status') {
        if (!(await this.retryAfterFailure(undefined, attempt.endpoint.address.address, `HTTP ${outcome.status}`, outcome.delayMs))) return;
        continue;
      }
      if (!(await this.decideAfterError(attempt, outcome.error, outcome.started))) return;
    }
  }

  /** The first attempt's endpoint when the DNS answer is cached and fresh: no await on the hot path. */
  private chooseEndpointNow(): Endpoint | undefined {
    if (this.attemptCount > 0) return undefined;
    const answer = this.ctx.dns.fresh(this.origin.hostname);
    if (!answer) return undefined;
    this.endpoints.update(answer);
    return this.endpoints.pick(this.tried, this.lastAddress, Date.now());
  }

  /** Resolves the host and picks where the next attempt goes. */
  private async chooseEndpoint(): Promise<Endpoint> {
    const hostname = this.origin.hostname;
    const answer = await this.race(this.ctx.dns.resolve(hostname));
    this.endpoints.update(answer);
    // After a failure a fresh resolution may be on its way; if nowhere new is left to go, wait for it.
    const pending = this.ctx.dns.pending(hostname);
    if (pending && this.attemptCount > 0 && !this.endpoints.hasUntried(this.tried, Date.now())) {
      try {
        this.endpoints.update(await this.race(pending));
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        // DNS failed: the stale answer above stays in use.
      }
    }
    const endpoint = this.endpoints.pick(this.tried, this.lastAddress, Date.now());
    if (!endpoint) throw new NoEndpointError(hostname, { origin: this.origin.key });
    return endpoint;
  }

  /** Starts one attempt on `endpoint`. */
  private startAttempt(endpoint: Endpoint): AttemptHandler {
    const number = ++this.attemptCount;
    const handler = new AttemptHandler(this, endpoint, number, () => {
      if (this.body.opaque) this.body.markSent();
    });
    this.current = handler;
    this.running.add(handler);
    this.tried.add(endpoint.address.address);
    this.lastAddress = endpoint.address.address;
    try {
      this.transport(this.origin, endpoint, this.opts, handler);
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
      const outcome = await attempt.outcome;
      this.running.delete(attempt);
      return { attempt, outcome };
    }
    const pending = new Map<AttemptHandler, Promise<{ attempt: AttemptHandler; outcome: AttemptOutcome }>>();
    const track = (a: AttemptHandler): void => {
      pending.set(a, a.outcome.then((outcome) => ({ attempt: a, outcome })));
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
        const next = await this.race(Promise.race<'hedge' | { attempt: AttemptHandler; outcome: AttemptOutcome }>(fire ? [...pending.values(), fire] : [...pending.values()]));
        if (hedgeTimer) clearTimeout(hedgeTimer);
        hedgeTimer = undefined;
        if (next === 'hedge') {
          hedgesLeft--;
          const other = this.endpoints.pick(this.tried, this.lastAddress, Date.now());
          if (other && !this.tried.has(other.address.address) && (!this.state.budget || this.state.budget.tryWithdraw())) {
            publish('hedge', () => ({ origin: this.origin.key, method: this.method, address: other.address.address, delayMs: Math.round(performance.now() - primary.startedAt) }));
            track(this.startAttempt(other));
          }
          continue;
        }
        pending.delete(next.attempt);
        this.running.delete(next.attempt);
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
    this.backoffState ??= new Backoff(this.ctx.options.backoff);
    return this.backoffState;
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
    this.records.push({
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
    this.records.push({ attempt: attempt.number, address: attempt.endpoint.address.address, code: undefined, status, durationMs: Math.round(performance.now() - attempt.startedAt), maybeSent: true });
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
    if (Date.now() + delayMs >= this.deadlineAt) {
      this.giveUp(new DeadlineExceededError(this.deadlineMs, this.errorOptions(error)));
      return false;
    }
    publish('retry', () => ({ origin: this.origin.key, method: this.method, attempt: this.attemptCount, address, reason, delayMs }));
    try {
      await this.race(new Promise<void>((resolve) => {
        this.sleepTimer = setTimeout(resolve, delayMs);
      }));
    } catch {
      return false;
    } finally {
      this.sleepTimer = undefined;
    }
    return !this.done;
  }

  decideStatus(attempt: AttemptHandler, status: number, headers: Record<string, string | string[] | undefined>): StatusDecision {
    const now = Date.now();
    const retryAfter = parseRetryAfter(headers['retry-after'], now);
    const o = this.ctx.options;
    this.state.latencies.add(performance.now() - attempt.startedAt);
    const retryable = o.retryStatuses.has(status) || (status === 429 && retryAfter !== undefined);
    if (!retryable) {
      // Only answers that count as working teach the latency average (a fast 503 is no good sign).
      attempt.endpoint.recordLatency(performance.now() - attempt.startedAt);
      this.endpoints.succeeded(attempt.endpoint, now);
      return { retry: false };
    }
    this.endpoints.failed(attempt.endpoint, 'outlier', `HTTP ${status}`, now);
    // Another attempt of a hedged round still running: let that one answer instead.
    if (this.running.size > 1 && this.body.canSend) return { retry: true, delayMs: 0 };
    if (!this.idempotent || !this.body.canSend || this.attemptCount >= this.maxAttempts) return { retry: false };
    if (retryAfter !== undefined && retryAfter > o.maxRetryAfter) return { retry: false };
    const delayMs = retryAfter ?? this.backoff().next();
    if (now + delayMs >= this.deadlineAt) return { retry: false };
    // A retry after a response loads the server: it is paid from the budget (none left: the caller gets this response).
    if (this.state.budget && !this.state.budget.tryWithdraw()) return { retry: false };
    this.noteStatus(attempt, status);
    return { retry: true, delayMs };
  }

  commit(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, statusMessage: string | undefined): void {
    this.isCommitted = true;
    this.current = attempt;
    this.running.delete(attempt);
    // Only hedged rounds have others on the wire; building an Error (a stack) per request is not free.
    if (this.running.size > 0) this.abandonRunning(new Error('ridethrough: another attempt answered first'));
    this.clearDeadline();
    this.releasePermit(this.ctx.options.retryStatuses.has(status) ? 'unhealthy' : 'healthy');
    this.userController.rawHeaders = (controller.rawHeaders as Buffer[] | null | undefined) ?? null;
    if (this.userController.paused) controller.pause();
    this.userHandler.onResponseStarted?.();
    this.userHandler.onResponseStart?.(this.userController, status, headers, statusMessage);
  }

  commitUpgrade(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, socket: unknown): void {
    this.isCommitted = true;
    this.current = attempt;
    this.running.delete(attempt);
    // Only hedged rounds have others on the wire; building an Error (a stack) per request is not free.
    if (this.running.size > 0) this.abandonRunning(new Error('ridethrough: another attempt answered first'));
    this.clearDeadline();
    this.releasePermit('healthy');
    this.userController.rawHeaders = (controller.rawHeaders as Buffer[] | null | undefined) ?? null;
    this.done = true;
    (this.userHandler.onRequestUpgrade as ((c: unknown, s: number, h: unknown, so: unknown) => void) | undefined)?.(this.userController, status, headers, socket);
  }

  finished(): void {
    this.done = true;
    this.clearDeadline();
  }

  abandonedError(attempt: AttemptHandler, error: Error): void {
    // A hedge loser still connecting to a dead address fails later: without this the address would never be ejected.
    if (isConnectFailure(error)) this.endpoints.failed(attempt.endpoint, 'connect', errorCode(error), Date.now());
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.done || this.isCommitted) return;
    // Attempts cut short by the deadline belong in the record (and tell the breaker an endpoint was reached).
    for (const a of this.running) {
      this.records.push({ attempt: a.number, address: a.endpoint.address.address, code: 'RIDETHROUGH_DEADLINE_EXCEEDED', status: undefined, durationMs: Math.round(performance.now() - a.startedAt), maybeSent: a.started });
    }
    const error = new DeadlineExceededError(this.deadlineMs, this.errorOptions(undefined));
    this.abandonRunning(error);
    this.interruptReject?.(new Interrupted());
    this.giveUp(error);
  }

  private giveUp(error: RidethroughError): void {
    const event = () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records.length });
    if (error instanceof DeadlineExceededError) publish('deadline', event);
    this.fail(error);
  }

  /** Reports a terminal error to the caller's handler, once. */
  private fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.clearDeadline();
    this.releasePermit(breakerVerdict(error, this.records));
    if (error instanceof RidethroughError) {
      publish('giveUp', () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records.length }));
    }
    this.interruptReject?.(new Interrupted());
    this.userHandler.onResponseError?.(this.userController, error);
  }

  private releasePermit(verdict: BreakerVerdict): void {
    this.permit?.release(verdict);
    this.permit = undefined;
  }

  private abandonRunning(reason: Error): void {
    for (const a of this.running) a.abandon(reason);
    this.running.clear();
  }

  private clearDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.deadlineTimer = undefined;
    this.sleepTimer = undefined;
  }

  private errorOptions(cause: unknown): { cause?: unknown; attempts: AttemptRecord[]; origin: string } {
    return { cause, attempts: [...this.records], origin: this.origin.key };
  }

  /** Awaits `p`, but rejects with Interrupted as soon as the flow ends (deadline, abort). */
  private race<T>(p: Promise<T>): Promise<T> {
    if (this.done) return Promise.reject(new Interrupted());
    if (!this.interrupt) {
      this.interrupt = new Promise<never>((_, reject) => {
        this.interruptReject = reject;
      });
      this.interrupt.catch(() => {});
    }
    return Promise.race([p, this.interrupt]);
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
