// Longer than the ~350 lines files here aim at, for a reason: this is the request's one state machine
// (the `phase` field and every transition of it). Its parts live elsewhere: the caller's controller
// (caller-controller.ts), the attempts on the wire (running-attempts.ts), retry-only state
// (retry-state.ts), each attempt (attempt.ts), and every decision (policy/decisions.ts).
import type { Dispatcher } from 'undici';
import type { OriginState, ResilienceContext } from '../core/context.js';
import { type RequestOverrides, type ResolvedHedge, type ResolvedOptions, resolveHedge } from '../core/options.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import type { Waiter, WakeReason } from '../endpoints/waiting-room.js';
import {
  type AttemptRecord,
  AttemptsExhaustedError,
  BudgetExhaustedError,
  CircuitOpenError,
  DeadlineExceededError,
  DnsResolutionError,
  NotRetryableError,
  RidethroughError,
} from '../errors/errors.js';
import { type ChannelEvents, publish, subscribed } from '../events/channels.js';
import { type AttemptEndInfo, publishNote, type RequestNote, requestHooks, type RequestTrace } from '../events/instrumentation.js';
import type { BreakerTicket } from '../health/circuit-breaker.js';
import { type BreakerVerdict, breakerVerdictOf, decideAfterError, decideStatus } from '../policy/decisions.js';
import { type AttemptCarrier, classifyError, errorCode, isConnectFailure, type FailureClass } from '../policy/failure.js';
import { isIdempotent, normalizeMethod } from '../policy/idempotency.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import type { DeadlineEntry } from '../timing/deadlines.js';
import { type AttemptOutcome, AttemptHandler, type AttemptOwner, type StatusDecision } from './attempt.js';
import { RequestBody } from './body.js';
import { hedgeDelay } from './hedging.js';
import type { LiveRequest, LiveRequests } from './live-requests.js';
import { type ParsedOrigin, parseOrigin } from '../core/origin.js';
import { RetryState } from './retry-state.js';
import { RunningAttempts } from './running-attempts.js';
import type { HeaderRecord } from '../utils/headers.js';
import { plus, epochNow, type MonotonicMs, monotonicNow, never } from '../timing/clock.js';

/** Sends attempts to endpoints: the agent through its own pools, the interceptor through the next dispatcher. @internal */
export interface AttemptTransport {
  /** Sends one attempt to one endpoint. */
  send(origin: ParsedOrigin, endpoint: Endpoint, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void;
  /** True when the transport's pools already carry the options' body timeout and the undici headers timeout that goes with it, so requests need not. */
  readonly appliesTimeouts: boolean;
  /** Who carries the attempts: the agent's own pools, or the dispatcher the interceptor is composed on (a closed one is final). */
  readonly carrier: AttemptCarrier;
  /** The dispatcher's count of requests not ended, and those waiting to retry (the agent's close() and destroy()); none for the interceptor. */
  readonly live: LiveRequests | undefined;
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

/**
 * Where a request is in its life (as grpc-js names its retry states): one field, not a set of flags.
 * - `sending`: one attempt on the wire, or more once hedged; none answered yet.
 * - `waiting`: nothing on the wire: resolving DNS, or parked until an endpoint is usable or a backoff ends.
 * - `committed`: the response was handed to the caller; ridethrough passes it through.
 * - `done`: the response ended, or the caller got an error.
 */
type Phase = 'sending' | 'waiting' | 'committed' | 'done';

/** Where the next attempt goes: any endpoint (the least bad ejected one will do), or one not tried yet (else wait). */
type NextStep = 'any' | 'untried';

const noOverrides: RequestOverrides = Object.freeze({});
const noExtras: FlowExtras = Object.freeze({});
const noRecords: readonly AttemptRecord[] = Object.freeze([]);
const noRetry: StatusDecision = Object.freeze({ retry: false });

/**
 * One request's way through ridethrough: resolve → pick endpoint → attempt → classify → retry, wait or
 * return. Nothing reaches the caller's handler until an attempt's response is accepted, so failures
 * before that point can be retried on another endpoint within the deadline. Every attempt's outcome
 * comes back through {@link settled}; a request with nowhere to go parks in its host's waiting room and
 * is woken the moment an endpoint may be usable ({@link wake}).
 * @internal
 */
export class RequestFlow extends RunningAttempts implements AttemptOwner, DeadlineEntry, Waiter, LiveRequest {
  readonly userHandler: Dispatcher.DispatchHandler;
  private phase: Phase = 'sending';
  /** The first attempt when start() sent it and its timer is the flow's own queue entry. */
  private firstAttempt: AttemptHandler | undefined = undefined;
  private readonly origin: ParsedOrigin;
  private readonly state: OriginState;
  private readonly hedge: ResolvedHedge | undefined;
  private ticket: BreakerTicket | undefined;
  private readonly opts: ResilientDispatchOptions;
  private readonly body: RequestBody;
  private readonly method: string;
  private readonly idempotent: boolean;
  private readonly deadlineMs: number;
  /** How long each attempt may wait for response headers (0: no limit). */
  private readonly attemptTimeoutMs: number;
  /** The longest wait for a body chunk once headers are in (0: none). */
  private readonly bodyTimeoutMs: number;
  private readonly maxAttempts: number;
  /** What only a request that retries, waits or fails needs (made on first use). */
  private retry: RetryState | undefined = undefined;
  private attemptCount = 0;
  private lastAddress: string | undefined = undefined;
  /** The instrumentation's trace of this request (ridethrough/otel), when hooks were set as it started. */
  private trace: RequestTrace | undefined = undefined;
  /** When the overall deadline passes. */
  private deadlineAt: MonotonicMs = never;
  /** True while the flow's deadline-queue entry stands in for the first attempt's time-to-headers timer (one entry per request, not two). */
  private attemptTimerOnFlow = false;
  /** @internal */ deadlineExpiresAt: MonotonicMs = never;
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
    super();
    const ridethrough = opts.ridethrough;
    const overrides =
      ridethrough === undefined ? (extras.overrides ?? noOverrides) : extras.overrides === undefined ? ridethrough : { ...extras.overrides, ...ridethrough };
    const o = ctx.options;
    this.userHandler = handler;
    this.origin = parseOrigin(opts.origin);
    this.state = ctx.originFor(this.origin);
    this.method = normalizeMethod(opts.method);
    this.body = RequestBody.of(opts.body, extras.replayBody);
    this.idempotent = isIdempotent(this.method, opts.headers, overrides.idempotent);
    this.deadlineMs = overrides.deadline ?? o.deadline;
    this.maxAttempts = overrides.maxAttempts ?? o.maxAttempts;
    // A per-request override gets its defaults here (rare); the agent's own is resolved already.
    const hedge = overrides.hedge === undefined ? o.hedge : overrides.hedge && resolveHedge(overrides.hedge);
    this.hedge = hedge && this.idempotent && this.body.replayable ? hedge : undefined;
    const attemptTimeout = overrides.attemptTimeout;
    // The time to headers is the attempts' own timer (AttemptHandler); a caller's undici headersTimeout sets it too.
    this.attemptTimeoutMs = attemptTimeout ?? opts.headersTimeout ?? o.attemptTimeout;
    this.bodyTimeoutMs = opts.bodyTimeout ?? o.bodyTimeout;
    if (transport.appliesTimeouts && ridethrough === undefined && attemptTimeout === undefined && this.body.value === (opts.body ?? undefined)) {
      // Nothing to change: the caller's options go to undici as they are.
      this.opts = opts;
    } else {
      // ridethrough's own timers stand in for undici's (AttemptHandler): undici's are off.
      this.opts = {
        ...opts,
        ridethrough: undefined,
        body: this.body.value as Dispatcher.DispatchOptions['body'],
        headersTimeout: 0,
        bodyTimeout: 0,
      };
    }
  }

  /** The controller the caller's handler holds: this flow. */
  get userController(): Dispatcher.DispatchController {
    return this;
  }

  /** Starts the flow. Errors reach the caller's handler, never the caller of start(). */
  start(): void {
    // Counted until it ends (ended()), for the agent's close(): one increment, nothing else on the hot path.
    const live = this.transport.live;
    if (live !== undefined) live.count++;
    // One clock read serves the deadline, the first attempt's timer, the DNS answer's freshness and the budget.
    const now = monotonicNow();
    this.deadlineAt = plus(now, this.deadlineMs);
    // Without instrumentation this one check is all it costs.
    if (requestHooks !== undefined) this.startTrace();
    const attemptTimeout = this.attemptTimeoutMs;
    if (attemptTimeout > 0 && attemptTimeout < this.deadlineMs) {
      this.attemptTimerOnFlow = true;
      this.ctx.deadlines.add(this, attemptTimeout, now);
    } else {
      this.ctx.deadlines.add(this, this.deadlineMs, now);
    }
    try {
      // As undici does: the context is null for HTTP/1.1 and HTTP/2 requests.
      this.userHandler.onRequestStart?.(this, null);
    } catch (err) {
      this.fail(toError(err));
      return;
    }
    if (this.phase === 'done') return;
    const breaker = this.state.breaker;
    if (breaker) {
      this.ticket = breaker.acquire();
      if (!this.ticket) {
        this.fail(new CircuitOpenError(this.origin.key, breaker.retryAt, { attempts: [] }));
        return;
      }
    }
    // The hot path: a fresh DNS answer; the first attempt goes out now, synchronously.
    const answer = this.ctx.freshAnswer(this.state, this.origin.hostname, now);
    if (answer) {
      this.endpoints.update(answer);
      const endpoint = this.endpoints.pickFirst();
      if (endpoint) {
        this.startAttempt(endpoint, true);
        return;
      }
    }
    this.resolve('any');
  }

  /**
   * Resolves the host (the cache queries DNS when it must), reconciles the endpoints with the answer,
   * then runs `next`.
   */
  private resolve(next: NextStep): void {
    this.toWaiting();
    const endpoints = this.endpoints;
    // Under a discovery source the set is current (DNS answers would be ignored): go on with it.
    if (endpoints.governed) {
      this.take(next);
      return;
    }
    this.ctx.dns.resolve(this.origin.hostname).then(
      (answer) => {
        endpoints.update(answer);
        if (this.phase === 'waiting' && this.retry?.waiting !== true) this.take(next);
      },
      (err: unknown) => this.resolveFailed(toError(err)),
    );
  }

  private resolveFailed(err: Error): void {
    if (this.phase !== 'waiting') return;
    if (err instanceof DnsResolutionError && !err.retryable) {
      this.fail(new DnsResolutionError(err.hostname, err.dnsCode, { ...this.errorOptions(err), retryable: false }));
      return;
    }
    const code = err instanceof DnsResolutionError ? err.dnsCode : errorCode(err);
    this.record({ attempt: ++this.attemptCount, address: undefined, code, status: undefined, durationMs: 0, maybeSent: false });
    this.retryState().lastError = err;
    if (this.attemptCount >= this.maxAttempts) {
      this.giveUp(new AttemptsExhaustedError(this.maxAttempts, this.errorOptions(err)));
      return;
    }
    // The waiting room re-queries the host while the request waits; an answer with addresses wakes it.
    this.wait(this.retryState().nextDelay(), code, undefined, true);
  }

  /**
   * Brings the endpoints up to date with DNS (waiting for the cache only when its answer is not fresh),
   * then runs `next`.
   */
  private withCurrentEndpoints(next: NextStep): void {
    const answer = this.ctx.freshAnswer(this.state, this.origin.hostname, monotonicNow());
    if (answer === undefined) {
      this.resolve(next);
      return;
    }
    this.endpoints.update(answer);
    this.take(next);
  }

  private take(next: NextStep): void {
    if (next === 'any') this.sendToAny();
    else this.sendToUntried();
  }

  /** Sends to the endpoint {@link EndpointSet.pick} chooses (the least bad ejected one will do), or waits when there is none. */
  private sendToAny(): void {
    const endpoint = this.endpoints.pick(this.triedList(), this.lastAddress, monotonicNow());
    if (endpoint) this.startAttempt(endpoint);
    else this.wait(this.retryState().nextDelay(), 'no endpoint', undefined, true);
  }

  /** After a failure: another endpoint this request has not tried goes at once; none, and the request waits in the host's waiting room. */
  private sendToUntried(): void {
    const next = this.endpoints.pickUntried(this.triedList(), monotonicNow());
    const address = this.lastAddress;
    const reason = this.lastReason();
    if (next) {
      this.emit('retry', () => ({ origin: this.origin.key, method: this.method, attempt: this.attemptCount, address, reason, delayMs: 0 }));
      this.startAttempt(next);
      return;
    }
    this.wait(this.retryState().nextDelay(), reason, address, true);
  }

  /** The code (or `HTTP <status>`) of the latest record, for events. */
  private lastReason(): string {
    const r = this.retry?.records.at(-1);
    return r === undefined ? 'unknown' : (r.code ?? `HTTP ${r.status}`);
  }

  /**
   * Waits `delayMs` (never past the deadline), then sends to the least bad endpoint. `park`: wait in the
   * host's waiting room, so a usable endpoint ends the wait at once.
   */
  private wait(delayMs: number, reason: string, address: string | undefined, park: boolean): void {
    this.toWaiting();
    const retry = this.retryState();
    const ms = Math.max(0, Math.min(delayMs, this.deadlineAt - monotonicNow()));
    this.emit('retry', () => ({ origin: this.origin.key, method: this.method, attempt: this.attemptCount, address, reason, delayMs: Math.round(ms) }));
    retry.waiting = true;
    retry.waitTimer = setTimeout(() => this.waitEnded(), ms);
    if (!park) return;
    this.endpoints.park(this);
    this.emit('wait', () => ({ origin: this.origin.key, method: this.method, attempts: this.attemptCount, maxWaitMs: Math.round(ms) }));
  }

  /**
   * The wait's timer fired. A DNS refresh still in flight with nowhere new to go is worth its few
   * milliseconds: the request waits for it (the set releases the room if it brings a new address).
   */
  private waitEnded(): void {
    const retry = this.retry!;
    retry.waitTimer = undefined;
    if (this.phase !== 'waiting' || !retry.waiting) return;
    const pending = this.ctx.dns.pending(this.origin.hostname);
    if (pending !== undefined && !this.endpoints.hasUntried(this.triedList(), monotonicNow())) {
      const then = (): void => this.finishWait();
      pending.then(then, then);
      return;
    }
    this.finishWait();
  }

  private finishWait(): void {
    const retry = this.retry!;
    if (this.phase !== 'waiting' || !retry.waiting) return;
    retry.waiting = false;
    this.endpoints.room.leave(this);
    this.withCurrentEndpoints('any');
  }

  /** The host's waiting room was released: an endpoint may be usable. @internal */
  wake(_reason: WakeReason): void {
    const retry = this.retry;
    if (retry === undefined) return;
    if (this.phase === 'waiting' && retry.waiting) {
      const endpoint = this.endpoints.pickUsable(this.triedList(), this.lastAddress, monotonicNow());
      if (!endpoint) {
        this.endpoints.park(this);
        return;
      }
      retry.clearTimers();
      this.startAttempt(endpoint);
    } else if (this.phase === 'sending' && retry.wantsHedge) {
      retry.wantsHedge = false;
      this.seekElsewhere();
    }
  }

  /** The attempt's endpoint was ejected or found silent. @internal */
  endpointLost(attempt: AttemptHandler, reason: string): void {
    if (this.phase !== 'sending' || !this.isRunning(attempt)) return;
    if (!attempt.started) {
      // It never left the client: move it now, whatever the method.
      this.noteRecord(attempt, `RIDETHROUGH_ENDPOINT_${reason === 'silent' ? 'SILENT' : 'EJECTED'}`, false);
      attempt.abandon(new DOMException(`ridethrough: endpoint ${reason}, attempt moved`, 'AbortError'));
      if (this.runningCount === 0) this.retryAfterError('unsent');
      return;
    }
    this.seekElsewhere();
  }

  /**
   * The attempts on the wire are on a lost or ejected endpoint: a usable endpoint not tried yet gets
   * them (moved when none has left the client, else a hedge for a request that may be sent twice);
   * with none usable yet, the request waits in the host's waiting room while its attempts go on.
   */
  private seekElsewhere(): void {
    const running = this.runningList();
    const unsent = running.every((a) => !a.started);
    if (!unsent && !this.mayHedge()) return;
    const endpoint = this.endpoints.pickUntried(this.triedList(), monotonicNow());
    if (endpoint === undefined) {
      this.retryState().wantsHedge = true;
      this.endpoints.park(this);
      return;
    }
    if (unsent) {
      for (const a of running) this.noteRecord(a, 'RIDETHROUGH_ENDPOINT_EJECTED', false);
      this.abandonRunning(new DOMException('ridethrough: a usable endpoint appeared, attempt moved', 'AbortError'));
      this.emit('retry', () => ({
        origin: this.origin.key,
        method: this.method,
        attempt: this.attemptCount,
        address: this.lastAddress,
        reason: 'RIDETHROUGH_ENDPOINT_EJECTED',
        delayMs: 0,
      }));
      this.startAttempt(endpoint);
      return;
    }
    // A second attempt may load the server: it is paid from the budget.
    if (this.state.budget && !this.state.budget.tryWithdraw()) return;
    this.sendHedge(endpoint, 'endpoint-lost');
  }

  /** Whether another attempt may join those on the wire (the request may be sent twice). */
  private mayHedge(): boolean {
    return this.idempotent && this.body.canSend && this.attemptCount < this.maxAttempts;
  }

  /** Starts one attempt on `endpoint`. `first`: sent by start(), its timer is the flow's queue entry. */
  private startAttempt(endpoint: Endpoint, first = false): void {
    if (this.phase === 'waiting') this.transport.live?.waiting.delete(this);
    this.phase = 'sending';
    const number = ++this.attemptCount;
    const startedAt = first ? this.startedAt : monotonicNow();
    const onFlow = first && this.attemptTimerOnFlow;
    const handler = new AttemptHandler(
      this,
      endpoint,
      number,
      startedAt,
      onFlow ? undefined : this.ctx.attemptDeadlines,
      this.attemptTimeoutMs,
      this.ctx.bodyDeadlines,
      this.bodyTimeoutMs,
    );
    const address = endpoint.address.address;
    if (onFlow) this.firstAttempt = handler;
    this.current = handler;
    this.addRunning(handler);
    if (this.lastAddress !== undefined) {
      const tried = this.triedList()!;
      if (!tried.includes(address)) tried.push(address);
    }
    this.lastAddress = address;
    this.ctx.watchdog?.ensureRunning();
    if (subscribed('attempt')) {
      const hedge = this.runningCount > 1;
      publish('attempt', () => ({ origin: this.origin.key, method: this.method, attempt: number, address, hedge }));
    }
    if (this.hedge !== undefined) this.armHedge();
    const trace = this.trace;
    try {
      if (trace === undefined) this.transport.send(this.origin, endpoint, this.opts, handler);
      // The trace runs the send in its context, so undici's own instrumentation nests the attempt under the request.
      else trace.attempt({ attempt: number, address, hedge: this.runningCount > 1 }, () => this.transport.send(this.origin, endpoint, this.opts, handler));
    } catch (err) {
      handler.onResponseError(null, toError(err));
    }
    // A probe of an ejected endpoint (nothing better was left): a usable endpoint that appears meanwhile gets the request.
    if (endpoint.ejectedUntil !== 0 && endpoint.ejectedUntil > monotonicNow() && this.phase === 'sending') {
      this.retryState().wantsHedge = true;
      this.endpoints.park(this);
    }
  }

  /** Arms the `hedge` option's timer for the next hedge, if any is left. */
  private armHedge(): void {
    const retry = this.retryState();
    if (retry.hedgeTimer !== undefined) return;
    if (retry.hedgesLeft < 0) retry.hedgesLeft = this.hedge!.maxHedges;
    if (retry.hedgesLeft <= 0) return;
    retry.hedgeTimer = setTimeout(
      () => {
        retry.hedgeTimer = undefined;
        if (this.phase !== 'sending' || this.attemptCount >= this.maxAttempts) return;
        retry.hedgesLeft--;
        const other = this.endpoints.pickUntried(this.triedList(), monotonicNow());
        if (other && (!this.state.budget || this.state.budget.tryWithdraw())) this.sendHedge(other, 'delay');
        else this.armHedge();
      },
      hedgeDelay(this.hedge!, this.state.latencies),
    );
  }

  private sendHedge(endpoint: Endpoint, reason: 'delay' | 'endpoint-lost'): void {
    this.emit('hedge', () => ({
      origin: this.origin.key,
      method: this.method,
      address: endpoint.address.address,
      delayMs: Math.round(monotonicNow() - this.startedAt),
      reason,
    }));
    this.startAttempt(endpoint);
  }

  /** An attempt was decided (every outcome comes here). @internal */
  settled(attempt: AttemptHandler, outcome: AttemptOutcome): void {
    if (attempt === this.firstAttempt) this.firstAttempt = undefined;
    // A committed attempt is taken off the running list by commit().
    if (outcome.kind === 'committed') return;
    if (this.trace !== undefined) this.trace.attemptEnd(attemptEndInfo(attempt, outcome));
    this.stopRunning(attempt);
    if (this.phase !== 'sending' || outcome.kind === 'abandoned') return;
    const address = attempt.endpoint.address.address;
    if (outcome.kind === 'status') {
      if (this.runningCount > 0) return;
      if (this.attemptCount >= this.maxAttempts) {
        this.giveUp(new AttemptsExhaustedError(this.maxAttempts, this.errorOptions(undefined)));
        return;
      }
      this.wait(outcome.delayMs, `HTTP ${outcome.status}`, address, false);
      return;
    }
    const failure = this.noteError(attempt, outcome.error, outcome.started);
    // Another attempt of this request is still on its way: it may yet answer.
    if (this.runningCount > 0) return;
    this.retryAfterError(failure);
  }

  /** Decides what follows a failure when nothing else is on the wire. */
  private retryAfterError(failure: FailureClass): void {
    const error = this.retry?.lastError;
    const verdict = decideAfterError({
      failure,
      idempotent: this.idempotent,
      canSend: this.body.canSend,
      attempts: this.attemptCount,
      maxAttempts: this.maxAttempts,
    });
    switch (verdict.kind) {
      case 'fail':
        this.fail(error ?? new Error('ridethrough: attempt failed'));
        return;
      case 'not-retryable':
        this.fail(new NotRetryableError(verdict.reason, this.errorOptions(error)));
        return;
      case 'exhausted':
        this.giveUp(new AttemptsExhaustedError(this.maxAttempts, this.errorOptions(error)));
        return;
    }
    // The request may have loaded the server: this retry is paid from the budget.
    if (verdict.paid && this.state.budget && !this.state.budget.tryWithdraw()) {
      this.giveUp(new BudgetExhaustedError(this.errorOptions(error)));
      return;
    }
    this.withCurrentEndpoints('untried');
  }

  /** Called when an attempt is handed to a connection (its body may be read from now on). @internal */
  attemptStarted(): void {
    if (this.body.opaque) this.body.markSent();
  }

  /** Decides, at response headers, whether the response goes to the caller or is drained and retried. @internal */
  decideStatus(attempt: AttemptHandler, status: number, headers: HeaderRecord, t: MonotonicMs): StatusDecision {
    const o = this.ctx.options;
    const latency = t - attempt.startedAt;
    const endpoint = attempt.endpoint;
    this.state.latencies.add(latency);
    endpoint.lastAnsweredAt = t;
    const listed = isListedStatus(o, status);
    // A 429 is retried only when it says when (Retry-After); without, it is an answer like any other.
    const retryAfterMs = listed || status === 429 ? parseRetryAfter(headers['retry-after'], epochNow()) : undefined;
    if (!listed && retryAfterMs === undefined) {
      // Only answers that count as working teach the latency average (a fast 503 is no good sign).
      endpoint.recordLatency(latency);
      this.endpoints.succeeded(endpoint);
      return noRetry;
    }
    this.endpoints.failed(endpoint, 'outlier', `HTTP ${status}`, t);
    const verdict = decideStatus({
      listed,
      retryAfterMs,
      maxRetryAfterMs: o.maxRetryAfter,
      idempotent: this.idempotent,
      canSend: this.body.canSend,
      attempts: this.attemptCount,
      maxAttempts: this.maxAttempts,
      othersRunning: this.runningCount > 1,
    });
    if (verdict.kind === 'answer') return noRetry;
    if (verdict.kind === 'await-others') return { retry: true, delayMs: 0 };
    const delayMs = verdict.delayMs ?? this.retryState().nextDelay();
    // A wait past the deadline would end in a timeout: the caller is better served by this response.
    if (t + delayMs >= this.deadlineAt) return noRetry;
    if (this.state.budget && !this.state.budget.tryWithdraw()) return noRetry;
    this.noteRecord(attempt, undefined, true, status);
    return { retry: true, delayMs };
  }

  /** Hands the response to the caller. @internal */
  commit(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: HeaderRecord, statusMessage: string | undefined): void {
    if (this.trace !== undefined) this.trace.attemptEnd(answered(attempt, status));
    this.settle(attempt, controller, isListedStatus(this.ctx.options, status) ? 'unhealthy' : 'healthy');
    this.phase = 'committed';
    if (this.isPaused) controller.pause();
    this.userHandler.onResponseStarted?.();
    this.userHandler.onResponseStart?.(this, status, headers, statusMessage);
  }

  /** Hands an upgraded socket to the caller. @internal */
  commitUpgrade(attempt: AttemptHandler, controller: Dispatcher.DispatchController, status: number, headers: HeaderRecord, socket: unknown): void {
    if (this.trace !== undefined) this.trace.attemptEnd(answered(attempt, status));
    this.settle(attempt, controller, 'healthy');
    this.phase = 'done';
    this.endTrace(undefined);
    // An upgraded socket is the caller's: a close() does not wait for it (nor does undici's).
    this.transport.live?.ended();
    (this.userHandler.onRequestUpgrade as ((c: unknown, s: number, h: unknown, so: unknown) => void) | undefined)?.(this, status, headers, socket);
  }

  /** What commit and commitUpgrade share: this attempt answered; the others (hedges) are cancelled. */
  private settle(attempt: AttemptHandler, controller: Dispatcher.DispatchController, verdict: BreakerVerdict): void {
    this.current = attempt;
    this.stopRunning(attempt);
    // Only hedged requests have others on the wire: they end as aborts, not errors.
    if (this.runningCount !== 0) this.abandonRunning(new DOMException('ridethrough: another attempt answered first', 'AbortError'));
    this.stopWaiting();
    this.account(verdict);
    this.rawHeaders = (controller.rawHeaders as Buffer[] | null | undefined) ?? null;
  }

  /** The committed response ended, or failed with `error`. @internal */
  finished(error?: Error): void {
    if (this.phase !== 'committed') return;
    this.phase = 'done';
    this.ctx.deadlines.remove(this);
    if (this.trace !== undefined) this.endTrace(error);
    this.transport.live?.ended();
  }

  /** An attempt given up on failed afterwards: its endpoint's health still learns from it. @internal */
  abandonedError(attempt: AttemptHandler, error: Error): void {
    if (isConnectFailure(error)) this.endpoints.failed(attempt.endpoint, 'connect', errorCode(error), monotonicNow());
  }

  /** The flow's deadline-queue entry fired: the first attempt's time to headers is up, or the deadline passed. @internal */
  expire(): void {
    if (this.phase === 'done' || this.phase === 'committed') return;
    if (this.attemptTimerOnFlow) {
      this.attemptTimerOnFlow = false;
      // From here on the entry is the overall deadline, queued under the time that is left.
      const rest = this.deadlineMs - this.attemptTimeoutMs;
      this.ctx.deadlines.add(this, rest, plus(this.deadlineAt, -rest));
      this.firstAttempt?.headersExpired();
      return;
    }
    for (const a of this.runningList()) this.noteRecord(a, 'RIDETHROUGH_DEADLINE_EXCEEDED', a.started);
    this.giveUp(new DeadlineExceededError(this.deadlineMs, this.errorOptions(undefined)));
  }

  protected callerAborted(reason: Error): void {
    if (this.phase === 'done') return;
    if (this.phase === 'committed') {
      this.current?.controller?.abort(reason);
      return;
    }
    this.fail(reason);
  }

  private giveUp(error: RidethroughError): void {
    if (error instanceof DeadlineExceededError)
      publish('deadline', () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records().length }));
    this.fail(error);
  }

  /** Reports a terminal error to the caller's handler, once; stops whatever is still going on. */
  private fail(error: Error): void {
    if (this.phase === 'done' || this.phase === 'committed') return;
    const live = this.transport.live;
    if (this.phase === 'waiting') live?.waiting.delete(this);
    this.phase = 'done';
    this.abandonRunning(error);
    this.stopWaiting();
    const gaveUp = error instanceof RidethroughError && !(error instanceof DnsResolutionError) && !(error instanceof NotRetryableError);
    this.account(breakerVerdictOf(gaveUp ? { kind: 'gave-up', reachedEndpoint: this.records().some((r) => r.address !== undefined) } : { kind: 'other' }));
    if (error instanceof RidethroughError) {
      publish('giveUp', () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records().length }));
    }
    if (this.trace !== undefined) this.endTrace(error);
    // Before the caller hears of it: a close() waiting for this request goes on after the callback (LiveRequests.ended).
    live?.ended();
    this.userHandler.onResponseError?.(this, error);
  }

  /** The dispatcher was destroyed while the request waited to retry: it fails with `error`, as undici fails a queued request. @internal */
  cancel(error: Error): void {
    this.fail(error);
  }

  /** Enters the `waiting` phase, where the dispatcher's destroy() finds the request (LiveRequests.waiting). */
  private toWaiting(): void {
    if (this.phase === 'waiting') return;
    this.phase = 'waiting';
    this.transport.live?.waiting.add(this);
  }

  /** Starts the instrumentation's trace of this request (only while hooks are set). */
  private startTrace(): void {
    const o = this.origin;
    this.trace = requestHooks!.start({ method: this.method, protocol: o.protocol, hostname: o.hostname, port: o.port, origin: o.key, path: this.opts.path });
  }

  /** Ends the trace, once. */
  private endTrace(error: Error | undefined): void {
    const trace = this.trace;
    this.trace = undefined;
    trace?.end(error, this.attemptCount);
  }

  /** Publishes a retry, hedge or wait on its channel, and tells the trace. */
  private emit<K extends RequestNote['kind']>(kind: K, build: () => ChannelEvents[K]): void {
    publishNote(this.trace, kind, build);
  }

  /** Leaves the deadline queue, the waiting room and every timer. */
  private stopWaiting(): void {
    this.ctx.deadlines.remove(this);
    const retry = this.retry;
    if (retry === undefined) return;
    retry.clearTimers();
    retry.wantsHedge = false;
    this.endpoints.room.leave(this);
  }

  /** The breaker learns the verdict, and the retry budget counts the request (one refused by an open breaker touched no socket). */
  private account(verdict: BreakerVerdict): void {
    // The request's start stands in for "now": the budget's buckets are a second wide.
    if (this.attemptCount > 0) this.state.budget?.deposit(this.startedAt);
    const ticket = this.ticket;
    if (ticket === undefined) return;
    this.ticket = undefined;
    this.state.breaker!.release(ticket, verdict);
  }

  /** Records an attempt's error and tells its endpoint's health; returns its class. */
  private noteError(attempt: AttemptHandler, error: Error, started: boolean): FailureClass {
    const code = errorCode(error);
    const failure = classifyError(error, started, this.transport.carrier);
    this.noteRecord(attempt, code, failure === 'maybe-sent');
    this.retryState().lastError = error;
    if (failure === 'fatal') return failure;
    const endpoints = this.endpoints;
    const now = monotonicNow();
    if (isConnectFailure(error) || !started) endpoints.failed(attempt.endpoint, 'connect', code, now);
    else if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') endpoints.failed(attempt.endpoint, 'outlier', code, now);
    // A reset before any response: often a keep-alive race, sometimes a dying pod.
    else endpoints.failed(attempt.endpoint, 'soft', code, now);
    // Whatever failed, the answer may be stale: look again (rate-limited); new addresses wake waiting requests.
    this.ctx.dns.reportFailure(this.origin.hostname)?.then((answer) => endpoints.update(answer), noop);
    return failure;
  }

  private noteRecord(attempt: AttemptHandler, code: string | undefined, maybeSent: boolean, status?: number): void {
    this.record({
      attempt: attempt.number,
      address: attempt.endpoint.address.address,
      code,
      status,
      durationMs: Math.round(monotonicNow() - attempt.startedAt),
      maybeSent,
    });
  }

  private record(r: AttemptRecord): void {
    this.retryState().records.push(r);
  }

  private records(): readonly AttemptRecord[] {
    return this.retry?.records ?? noRecords;
  }

  /** The addresses this request tried (undefined before its second attempt, when only {@link lastAddress} counts). */
  private triedList(): string[] | undefined {
    if (this.lastAddress === undefined) return this.retry?.tried;
    const retry = this.retryState();
    retry.tried ??= [this.lastAddress];
    return retry.tried;
  }

  private retryState(): RetryState {
    return (this.retry ??= new RetryState(this.ctx.options.backoff));
  }

  private errorOptions(cause: unknown): { cause?: unknown; attempts: AttemptRecord[]; origin: string } {
    return { cause: cause ?? this.retry?.lastError, attempts: this.records().slice(), origin: this.origin.key };
  }

  private get startedAt(): MonotonicMs {
    return plus(this.deadlineAt, -this.deadlineMs);
  }

  private get endpoints(): EndpointSet {
    return this.state.endpoints;
  }
}

/** Whether `status` is one of the options' `statusCodes` (all 400–599, validated: a success needs no lookup). */
function isListedStatus(o: ResolvedOptions, status: number): boolean {
  return status >= 400 && o.statusCodes.has(status);
}

/** An attempt's end, as the trace hears it. */
function attemptEndInfo(attempt: AttemptHandler, outcome: Exclude<AttemptOutcome, { kind: 'committed' }>): AttemptEndInfo {
  const address = attempt.endpoint.address.address;
  if (outcome.kind === 'error') return { attempt: attempt.number, address, outcome: 'error', status: undefined, error: outcome.error };
  if (outcome.kind === 'status') return { attempt: attempt.number, address, outcome: 'status', status: outcome.status, error: undefined };
  return { attempt: attempt.number, address, outcome: 'abandoned', status: undefined, error: undefined };
}

/** The end of the attempt whose response goes to the caller. */
function answered(attempt: AttemptHandler, status: number): AttemptEndInfo {
  return { attempt: attempt.number, address: attempt.endpoint.address.address, outcome: 'answered', status, error: undefined };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function noop(): void {}
