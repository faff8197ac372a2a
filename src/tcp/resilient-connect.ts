import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import pRetry from 'p-retry';
import { classifyError, errorCode } from '../classify/failure.js';
import type { ResilienceContext } from '../core/context.js';
import type { ParsedOrigin } from '../core/origin.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import {
  type AttemptRecord,
  AttemptsExhaustedError,
  DeadlineExceededError,
  DnsResolutionError,
  NoEndpointError,
  RidethroughError,
} from '../errors/errors.js';
import { publish } from '../events/channels.js';
import { Backoff } from '../retry/backoff.js';
import { abortable, sleep } from './abortable.js';
import { connectOnce } from './connect-once.js';
import { type ConnectSettings, type ResilientConnectOptions, resolveConnectOptions, validateConnectOptions } from './connect-options.js';
import { sharedContext } from './shared-context.js';
import { tcpOrigin } from './tcp-origin.js';

/**
 * Opens a TCP (or TLS) connection that rides out a moved pod: resolves `host` through ridethrough's DNS
 * cache (record TTLs, stale answers while DNS fails, re-resolution when an address fails), picks a
 * healthy address, connects with a short `connectTimeout`, and on failure retries another address with
 * jittered backoff (p-retry) inside the overall `deadline`.
 *
 * Resolves with the connected socket (a `TLSSocket` after `secureConnect` when `tls` is set). Rejects
 * with {@link DeadlineExceededError}, {@link AttemptsExhaustedError} or {@link DnsResolutionError}
 * (each with `attempts`: address, code, durationMs), with a non-retryable error as is (a TLS certificate
 * error, for example), or with the `signal`'s reason.
 *
 * @param options - host, port and connect settings; validated at call time (`TypeError`/`RangeError` naming the option)
 * @param context - share the DNS cache and endpoint health of an agent or another connector; without
 * one, calls with equal `dns`/`ejection`/`backoff` settings share a process-wide context
 *
 * @example
 * ```ts
 * const socket = await resilientConnect({ host: 'redis.cache.svc.cluster.local', port: 6379, deadline: 15_000 });
 * ```
 */
export function resilientConnect(options: ResilientConnectOptions & { readonly tls: true | ConnectionOptions }, context?: ResilienceContext): Promise<TLSSocket>;
export function resilientConnect(options: ResilientConnectOptions, context?: ResilienceContext): Promise<Socket>;
export function resilientConnect(options: ResilientConnectOptions, context?: ResilienceContext): Promise<Socket> {
  try {
    validateConnectOptions(options, context !== undefined);
    const ctx = context ?? sharedContext(options);
    return new ConnectRun(ctx, resolveConnectOptions(options, ctx)).run();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/** One call of {@link resilientConnect}: its attempts, tried addresses, backoff and deadline. */
class ConnectRun {
  private readonly origin: ParsedOrigin;
  private readonly endpoints: EndpointSet;
  private readonly records: AttemptRecord[] = [];
  private readonly tried = new Set<string>();
  private readonly backoff: Backoff;
  private readonly deadline = new AbortController();
  private readonly deadlineAt: number;
  private last: string | undefined;
  private lastError: unknown;
  private outOfTime = false;
  private socket: Socket | undefined;

  constructor(
    private readonly ctx: ResilienceContext,
    private readonly s: ConnectSettings,
  ) {
    this.origin = tcpOrigin(s.host, s.port);
    this.endpoints = ctx.endpointsFor(this.origin);
    this.backoff = new Backoff(ctx.options.backoff);
    this.deadlineAt = Date.now() + s.deadline;
  }

  async run(): Promise<Socket> {
    const timer = setTimeout(() => this.deadline.abort(new Error('ridethrough: deadline')), this.s.deadline);
    const signal = this.s.signal ? AbortSignal.any([this.s.signal, this.deadline.signal]) : this.deadline.signal;
    try {
      return await pRetry(() => this.attempt(signal), {
        retries: this.s.maxAttempts - 1,
        minTimeout: 0,
        maxTimeout: 0,
        signal,
        shouldRetry: ({ error }) => this.shouldRetry(error, signal),
      });
    } catch (err) {
      // The socket may have connected just as the deadline or the caller's abort hit.
      this.socket?.destroy();
      throw this.finalError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One attempt: resolve, pick an address, connect. Records the attempt and the endpoint's health. */
  private async attempt(signal: AbortSignal): Promise<Socket> {
    const number = this.records.length + 1;
    const started = performance.now();
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
    this.tried.add(address);
    this.last = address;
    endpoint.attempts++;
    endpoint.inFlight++;
    const connectStarted = performance.now();
    try {
      const socket = await connectOnce({
        address,
        family: endpoint.address.family,
        port: this.s.port,
        hostname: this.origin.hostname,
        tls: this.s.tls,
        timeout: this.s.connectTimeout,
        signal,
        noDelay: this.s.noDelay,
        keepAlive: this.s.keepAlive,
        keepAliveInitialDelay: this.s.keepAliveInitialDelay,
      });
      this.endpoints.succeeded(endpoint, Date.now());
      this.socket = socket;
      return socket;
    } catch (err) {
      const code = signal.aborted ? 'ABORT_ERR' : errorCode(err);
      this.record(number, address, code, connectStarted);
      if (signal.aborted) throw err;
      this.lastError = err;
      if (classifyError(err, false) !== 'fatal') {
        this.endpoints.failed(endpoint, 'connect', code, Date.now());
        this.ctx.dns.reportFailure(this.origin.hostname);
      }
      throw err;
    } finally {
      endpoint.inFlight--;
    }
  }

  /** Resolves the host and picks the next address; after a failure with nowhere new to go, waits for the re-resolution. */
  private async choose(signal: AbortSignal): Promise<Endpoint> {
    const hostname = this.origin.hostname;
    this.endpoints.update(await abortable(this.ctx.dns.resolve(hostname), signal));
    const pending = this.ctx.dns.pending(hostname);
    if (pending && this.records.length > 0 && !this.endpoints.hasUntried(this.tried, Date.now())) {
      try {
        this.endpoints.update(await abortable(pending, signal));
      } catch (err) {
        if (signal.aborted) throw err;
        // DNS failed: the (stale) answer above stays in use.
      }
    }
    const endpoint = this.endpoints.pick(this.tried, this.last, Date.now());
    if (!endpoint) throw new NoEndpointError(hostname, { origin: this.origin.key });
    return endpoint;
  }

  /** p-retry's `shouldRetry`: false for failures a retry cannot fix; otherwise waits the backoff delay if it fits the deadline. */
  private async shouldRetry(error: Error, signal: AbortSignal): Promise<boolean> {
    if (error instanceof DnsResolutionError && !error.retryable) return false;
    if (!(error instanceof RidethroughError) && classifyError(error, false) === 'fatal') return false;
    const delayMs = this.backoff.next();
    if (Date.now() + delayMs >= this.deadlineAt) {
      this.outOfTime = true;
      return false;
    }
    const last = this.records[this.records.length - 1];
    publish('retry', () => ({ origin: this.origin.key, method: 'CONNECT', attempt: this.records.length, address: last?.address, reason: last?.code ?? errorCode(error), delayMs }));
    await sleep(delayMs, signal);
    return true;
  }

  /** The error the caller gets. */
  private finalError(err: unknown): unknown {
    if (this.s.signal?.aborted) return this.s.signal.reason;
    const options = { cause: this.lastError ?? err, attempts: [...this.records], origin: this.origin.key };
    let error: unknown;
    if (this.deadline.signal.aborted || this.outOfTime) error = new DeadlineExceededError(this.s.deadline, options);
    else if (err instanceof DnsResolutionError && !err.retryable) error = new DnsResolutionError(err.hostname, err.dnsCode, { ...options, cause: err, retryable: false });
    else if (err instanceof RidethroughError || classifyError(err, false) === 'fatal') return err;
    else error = new AttemptsExhaustedError(this.s.maxAttempts, options);
    const e = error as RidethroughError;
    const event = () => ({ origin: this.origin.key, method: 'CONNECT', code: e.code, attempts: this.records.length });
    if (e instanceof DeadlineExceededError) publish('deadline', event);
    publish('giveUp', event);
    return e;
  }

  private record(attempt: number, address: string | undefined, code: string, started: number): void {
    this.records.push({ attempt, address, code, status: undefined, durationMs: Math.round(performance.now() - started), maybeSent: false });
  }
}
