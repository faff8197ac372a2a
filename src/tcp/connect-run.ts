import type { Socket } from 'node:net';
import { classifyError, errorCode } from '../policy/failure.js';
import type { ResilienceContext } from '../core/context.js';
import type { ParsedOrigin } from '../core/origin.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import { type AttemptRecord, AttemptsExhaustedError, DeadlineExceededError, DnsResolutionError, NoEndpointError, RidethroughError } from '../errors/errors.js';
import { type ChannelEvents, publish } from '../events/channels.js';
import { type ConnectNote, type ConnectTrace, publishNote, requestHooks } from '../events/instrumentation.js';
import { currentEndpoints } from '../endpoints/selection.js';
import { waitForEndpoint } from '../endpoints/wait-for-endpoint.js';
import { Backoff } from '../policy/backoff.js';
import { type ConnectTarget, connectOnce } from './connect-once.js';
import type { ConnectSettings } from './connect-options.js';
import { tcpOrigin } from './tcp-origin.js';
import { plus, type MonotonicMs, monotonicNow } from '../timing/clock.js';

/**
 * One call of `resilientConnect`: its attempts, tried addresses, backoff and deadline. After a
 * connection-level failure it goes at once to an address not tried yet; with none left it waits in the
 * host's waiting room, which a DNS answer adding an address, an endpoint answering again or an ejection
 * ending cuts short, up to the next jittered backoff delay (cockatiel's). The waiting room, not a fixed
 * sleep, is what lets a connect land the moment a reachable endpoint exists (docs/dependencies.md says
 * why p-retry, whose delays cannot end early, drives the Kubernetes watch's reconnects instead).
 * @internal
 */
export class ConnectRun {
  private readonly origin: ParsedOrigin;
  private readonly endpoints: EndpointSet;
  private readonly records: AttemptRecord[] = [];
  private readonly tried: string[] = [];
  private readonly backoff: Backoff;
  private readonly deadline = new AbortController();
  /** `monotonicNow()` at which the deadline passes. */
  private readonly deadlineAt: MonotonicMs;
  private last: string | undefined;
  /** The port of the last attempt. */
  private lastPort: number | undefined;
  private lastError: unknown;
  /** The instrumentation's trace of this connect (ridethrough/otel), when hooks were set as it started. */
  private trace: ConnectTrace | undefined;
  private socket: Socket | undefined;

  constructor(
    private readonly ctx: ResilienceContext,
    private readonly s: ConnectSettings,
  ) {
    this.origin = tcpOrigin(s.host, s.port);
    this.endpoints = ctx.endpointsFor(this.origin);
    this.backoff = new Backoff(ctx.options.backoff);
    this.deadlineAt = plus(monotonicNow(), s.deadline);
  }

  /** Runs the attempts; resolves with the connected socket or rejects with the error the caller gets. */
  async run(): Promise<Socket> {
    if (requestHooks !== undefined) this.startTrace();
    const timer = setTimeout(() => this.deadline.abort(new Error('ridethrough: deadline')), this.s.deadline);
    const signal = this.s.signal ? AbortSignal.any([this.s.signal, this.deadline.signal]) : this.deadline.signal;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const socket = await this.attempt(signal);
          this.trace?.end({ error: undefined, aborted: false, attempts: this.records.length + 1, address: this.last, port: this.lastPort });
          return socket;
        } catch (err) {
          if (signal.aborted || !this.mayRetry(err, attempt)) throw err;
          await this.beforeRetry(err, signal);
        }
      }
    } catch (err) {
      // The socket may have connected just as the deadline or the caller's abort hit.
      this.socket?.destroy();
      const error = this.finalError(err);
      if (this.trace !== undefined) this.endTrace(error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One attempt: resolve, pick an address, connect. Records the attempt and the endpoint's health. */
  private async attempt(signal: AbortSignal): Promise<Socket> {
    const number = this.records.length + 1;
    const started = monotonicNow();
    let endpoint: Endpoint;
    try {
      endpoint = await this.choose(signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const code = err instanceof DnsResolutionError ? err.dnsCode : errorCode(err);
      this.record(number, undefined, code, started);
      this.lastError = err;
      throw err;
    }
    const address = endpoint.address.address;
    if (!this.tried.includes(address)) this.tried.push(address);
    // A discovered endpoint's own port (a Service's targetPort) when it has one.
    const port = endpoint.address.port ?? this.s.port;
    this.last = address;
    this.lastPort = port;
    endpoint.attempts++;
    endpoint.inFlight++;
    const connectStarted = monotonicNow();
    try {
      const target: ConnectTarget = {
        address,
        family: endpoint.address.family,
        port,
        hostname: this.origin.hostname,
        tls: this.s.tls,
        timeout: this.s.connectTimeout,
        signal,
        noDelay: this.s.noDelay,
        keepAlive: this.s.keepAlive,
        keepAliveInitialDelay: this.s.keepAliveInitialDelay,
      };
      const trace = this.trace;
      // The trace runs the connect in its context, so a socket instrumentation nests its span under the connect's.
      const socket = await (trace === undefined ? connectOnce(target) : trace.attempt({ attempt: number, address, port }, () => connectOnce(target)));
      this.endpoints.succeeded(endpoint);
      this.socket = socket;
      return socket;
    } catch (err) {
      // Cut short by the deadline, as an HTTP attempt on the wire is recorded then; by the caller's signal, an abort.
      const code = !signal.aborted ? errorCode(err) : this.deadline.signal.aborted ? 'RIDETHROUGH_DEADLINE_EXCEEDED' : 'ABORT_ERR';
      this.record(number, address, code, connectStarted);
      if (signal.aborted) throw err;
      this.lastError = err;
      if (classifyError(err, false) !== 'fatal') {
        this.endpoints.failed(endpoint, 'connect', code, monotonicNow());
        this.ctx.dns.reportFailure(this.origin.hostname);
      }
      throw err;
    } finally {
      endpoint.inFlight--;
    }
  }

  /** Resolves the host and picks the next address; after a failure with nowhere new to go, waits for the re-resolution. */
  private async choose(signal: AbortSignal): Promise<Endpoint> {
    const set = this.endpoints;
    await currentEndpoints(this.ctx.dns, set, () => this.records.length > 0 && !set.hasUntried(this.tried, monotonicNow()), signal);
    const endpoint = set.pick(this.tried, this.last, monotonicNow());
    if (!endpoint) throw new NoEndpointError(set.hostname, { origin: this.origin.key });
    return endpoint;
  }

  /** False for failures a retry cannot fix, and once `maxAttempts` attempts ran. */
  private mayRetry(error: unknown, attempt: number): boolean {
    if (error instanceof DnsResolutionError && !error.retryable) return false;
    if (!(error instanceof RidethroughError) && classifyError(error, false) === 'fatal') return false;
    return attempt < this.s.maxAttempts && monotonicNow() < this.deadlineAt;
  }

  /**
   * Another address not tried yet: go at once. None: wait in the host's waiting room for at most the
   * next backoff delay (never past the deadline).
   */
  private async beforeRetry(error: unknown, signal: AbortSignal): Promise<void> {
    const last = this.records[this.records.length - 1];
    const untried = !(error instanceof RidethroughError) && this.endpoints.hasUntried(this.tried, monotonicNow());
    const delayMs = untried ? 0 : Math.max(0, Math.min(this.backoff.next(), Math.round(this.deadlineAt - monotonicNow())));
    this.emit('retry', () => ({
      origin: this.origin.key,
      method: 'CONNECT',
      attempt: this.records.length,
      address: last?.address,
      reason: last?.code ?? errorCode(error),
      delayMs,
    }));
    if (delayMs > 0) {
      this.emit('wait', () => ({ origin: this.origin.key, method: 'CONNECT', attempts: this.records.length, maxWaitMs: delayMs }));
      await waitForEndpoint(this.endpoints, this.tried, this.last, delayMs, signal);
    }
  }

  /** Publishes a retry or wait on its channel, and tells the trace. */
  private emit<K extends ConnectNote['kind']>(kind: K, build: () => ChannelEvents[K]): void {
    publishNote(this.trace, kind, build);
  }

  /** Starts the instrumentation's trace of this connect (only while hooks are set). */
  private startTrace(): void {
    this.trace = requestHooks!.connect?.({ hostname: this.origin.hostname, port: this.s.port, origin: this.origin.key, tls: this.s.tls !== undefined });
  }

  /** Ends the trace with the error the caller gets (none when the caller aborted). */
  private endTrace(error: unknown): void {
    const aborted = this.s.signal?.aborted === true;
    const e = aborted ? undefined : error instanceof Error ? error : new Error(String(error));
    this.trace!.end({ error: e, aborted, attempts: this.records.length, address: this.last, port: this.lastPort });
  }

  /** The error the caller gets. */
  private finalError(err: unknown): unknown {
    if (this.s.signal?.aborted) return this.s.signal.reason;
    const options = { cause: this.lastError ?? err, attempts: [...this.records], origin: this.origin.key };
    let error: unknown;
    if (this.deadline.signal.aborted || monotonicNow() >= this.deadlineAt) error = new DeadlineExceededError(this.s.deadline, options);
    else if (err instanceof DnsResolutionError && !err.retryable)
      error = new DnsResolutionError(err.hostname, err.dnsCode, { ...options, cause: err, retryable: false });
    else if (err instanceof RidethroughError || classifyError(err, false) === 'fatal') return err;
    else error = new AttemptsExhaustedError(this.s.maxAttempts, options);
    const e = error as RidethroughError;
    const event = () => ({ origin: this.origin.key, method: 'CONNECT', code: e.code, attempts: this.records.length });
    if (e instanceof DeadlineExceededError) publish('deadline', event);
    publish('giveUp', event);
    return e;
  }

  private record(attempt: number, address: string | undefined, code: string, started: MonotonicMs): void {
    this.records.push({ attempt, address, code, status: undefined, durationMs: Math.round(monotonicNow() - started), maybeSent: false });
  }
}
