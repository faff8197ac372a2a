/**
 * One attempt made for a request, as recorded in a ridethrough error.
 */
export interface AttemptRecord {
  /** 1-based attempt number. */
  readonly attempt: number;
  /** The endpoint address tried (an IP), or `undefined` when the attempt failed before one was picked (DNS). */
  readonly address: string | undefined;
  /**
   * The error code (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`, ...) when the attempt failed with an error;
   * `RIDETHROUGH_DEADLINE_EXCEEDED` for an attempt the overall deadline cut short.
   */
  readonly code: string | undefined;
  /** The HTTP status when the attempt got a (retryable) response. */
  readonly status: number | undefined;
  /** How long the attempt took, in milliseconds. */
  readonly durationMs: number;
  /** Whether the request may have reached the server in this attempt. */
  readonly maybeSent: boolean;
}

/** Stable codes of every ridethrough error. */
export type RidethroughErrorCode =
  | 'RIDETHROUGH_DEADLINE_EXCEEDED'
  | 'RIDETHROUGH_ATTEMPTS_EXHAUSTED'
  | 'RIDETHROUGH_NOT_RETRYABLE'
  | 'RIDETHROUGH_NO_ENDPOINT'
  | 'RIDETHROUGH_DNS'
  | 'RIDETHROUGH_CIRCUIT_OPEN'
  | 'RIDETHROUGH_BUDGET_EXHAUSTED';

/** Options common to every ridethrough error. */
export interface RidethroughErrorOptions {
  /** The error that caused this one (the last attempt's error). */
  readonly cause?: unknown;
  /** The attempts made, in order. */
  readonly attempts?: readonly AttemptRecord[];
  /** The origin (`http://host:port`) the request was for. */
  readonly origin?: string;
}

/** The brand every ridethrough error carries, shared by every copy of the library in a process. */
const brand = Symbol.for('ridethrough.error');

/** The code each built-in subclass stands for (the base class stands for every code). */
const classCodes = new WeakMap<object, RidethroughErrorCode>();

/**
 * Base class of every error ridethrough raises when it gives up on a request.
 * Carries a stable {@link RidethroughError.code}, the list of attempts and the
 * original error as `cause`.
 *
 * `instanceof` works across copies of ridethrough in one process (the ESM and the CommonJS build
 * loaded side by side, or two installed versions): every ridethrough error carries the brand
 * `Symbol.for('ridethrough.error')`, and `instanceof` a subclass compares the error's `code`, so a
 * `CircuitOpenError` from one copy is `instanceof CircuitOpenError` of the other, never of
 * `DeadlineExceededError`. Checking `err.code` is equivalent.
 */
export class RidethroughError extends Error {
  // biome-ignore-start lint/complexity/noThisInStatic: `this` is the class on the right of `instanceof`, a subclass too.
  /**
   * `value instanceof RidethroughError` (or a subclass): true for errors of this copy of ridethrough
   * by their prototype chain, and for errors of another copy by their brand and `code`.
   * @param value - the value on the left of `instanceof`
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null || (value as { [brand]?: unknown })[brand] !== true) return false;
    // An error of another copy: the base class (the one extending Error; not named here, or the bundler
    // renames it) takes any, a built-in subclass only its own code.
    if (Object.getPrototypeOf(this) === Error) return true;
    const code = classCodes.get(this);
    return code !== undefined && (value as { code?: unknown }).code === code;
  }
  // biome-ignore-end lint/complexity/noThisInStatic: -

  /** Stable machine-readable code. */
  readonly code: RidethroughErrorCode;
  /** Every attempt made, in order: address, error code or status, duration. */
  readonly attempts: readonly AttemptRecord[];
  /** The origin the request was for, when known. */
  readonly origin: string | undefined;

  /**
   * @param code - the stable code
   * @param message - a sentence that says why ridethrough gave up
   * @param options - cause, attempts and origin
   */
  constructor(code: RidethroughErrorCode, message: string, options: RidethroughErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.attempts = options.attempts ?? [];
    this.origin = options.origin;
  }
}

/** The overall deadline passed before a response arrived. */
export class DeadlineExceededError extends RidethroughError {
  /** The deadline that was exceeded, in milliseconds. */
  readonly deadlineMs: number;
  /**
   * @param deadlineMs - the deadline in milliseconds
   * @param options - cause, attempts and origin
   */
  constructor(deadlineMs: number, options: RidethroughErrorOptions = {}) {
    super(
      'RIDETHROUGH_DEADLINE_EXCEEDED',
      `deadline of ${deadlineMs} ms exceeded after ${options.attempts?.length ?? 0} attempt(s)${describeLast(options)}`,
      options,
    );
    this.deadlineMs = deadlineMs;
  }
}

/** Every allowed attempt failed. */
export class AttemptsExhaustedError extends RidethroughError {
  /**
   * @param maxAttempts - the attempt limit that was reached
   * @param options - cause, attempts and origin
   */
  constructor(maxAttempts: number, options: RidethroughErrorOptions = {}) {
    super('RIDETHROUGH_ATTEMPTS_EXHAUSTED', `all ${maxAttempts} attempts failed${describeLast(options)}`, options);
  }
}

/**
 * The attempt failed in a way that is not safe to retry: the request may have
 * reached the server and is not idempotent, or its body cannot be replayed.
 */
export class NotRetryableError extends RidethroughError {
  /** Why the failure could not be retried. */
  readonly reason: 'not-idempotent' | 'body-not-replayable';
  /**
   * @param reason - why it could not be retried
   * @param options - cause, attempts and origin
   */
  constructor(reason: NotRetryableError['reason'], options: RidethroughErrorOptions = {}) {
    const why =
      reason === 'not-idempotent'
        ? 'the request may have reached the server and is not idempotent (add an Idempotency-Key header or mark it idempotent to allow a retry)'
        : 'the request body was a stream that has already been read and cannot be sent again';
    super('RIDETHROUGH_NOT_RETRYABLE', `request failed and was not retried: ${why}${describeLast(options)}`, options);
    this.reason = reason;
  }
}

/** No endpoint could be found for the host (DNS answered, but with no usable address). */
export class NoEndpointError extends RidethroughError {
  /**
   * @param host - the host name
   * @param options - cause, attempts and origin
   */
  constructor(host: string, options: RidethroughErrorOptions = {}) {
    super('RIDETHROUGH_NO_ENDPOINT', `no endpoint available for ${host}${describeLast(options)}`, options);
  }
}

/** Resolution failed and no last good answer could be served. */
export class DnsResolutionError extends RidethroughError {
  /** The host that failed to resolve. */
  readonly hostname: string;
  /** The DNS error code (`ENOTFOUND`, `ETIMEOUT`, `ESERVFAIL`, ...). */
  readonly dnsCode: string;
  /**
   * Whether waiting may help: DNS failed (timeout, SERVFAIL), or a name that resolved before now has
   * no address (a headless service between pods). False for a name never seen to resolve.
   */
  readonly retryable: boolean;
  /**
   * @param hostname - the host name
   * @param dnsCode - the resolver's error code
   * @param options - cause, attempts, origin, and whether a retry may help
   */
  constructor(hostname: string, dnsCode: string, options: RidethroughErrorOptions & { retryable?: boolean } = {}) {
    super('RIDETHROUGH_DNS', `could not resolve ${hostname}: ${dnsCode}`, options);
    this.hostname = hostname;
    this.dnsCode = dnsCode;
    this.retryable = options.retryable ?? true;
  }
}

/** The origin's circuit breaker is open: the call failed at once without touching a socket. */
export class CircuitOpenError extends RidethroughError {
  /** When the breaker will let a probe request through (epoch ms), if known. */
  readonly retryAt: number | undefined;
  /**
   * @param origin - the origin whose breaker is open
   * @param retryAt - epoch ms of the next half-open probe, if known
   * @param options - cause and attempts
   */
  constructor(origin: string, retryAt: number | undefined, options: RidethroughErrorOptions = {}) {
    super('RIDETHROUGH_CIRCUIT_OPEN', `circuit open for ${origin}${retryAt === undefined ? '' : `; next probe in ${Math.max(0, retryAt - Date.now())} ms`}`, {
      ...options,
      origin,
    });
    this.retryAt = retryAt;
  }
}

/** The retry budget of the origin is spent: the failure was not retried to protect the upstream. */
export class BudgetExhaustedError extends RidethroughError {
  /**
   * @param options - cause, attempts and origin
   */
  constructor(options: RidethroughErrorOptions = {}) {
    super('RIDETHROUGH_BUDGET_EXHAUSTED', `retry budget exhausted for ${options.origin ?? 'the origin'}; not retried${describeLast(options)}`, options);
  }
}

// The brand and the subclass codes, set here: a static block naming its own class makes the bundler
// rename the class, and with it every error's `name`.
Object.defineProperty(RidethroughError.prototype, brand, { value: true });
for (const [cls, code] of [
  [DeadlineExceededError, 'RIDETHROUGH_DEADLINE_EXCEEDED'],
  [AttemptsExhaustedError, 'RIDETHROUGH_ATTEMPTS_EXHAUSTED'],
  [NotRetryableError, 'RIDETHROUGH_NOT_RETRYABLE'],
  [NoEndpointError, 'RIDETHROUGH_NO_ENDPOINT'],
  [DnsResolutionError, 'RIDETHROUGH_DNS'],
  [CircuitOpenError, 'RIDETHROUGH_CIRCUIT_OPEN'],
  [BudgetExhaustedError, 'RIDETHROUGH_BUDGET_EXHAUSTED'],
] as const) {
  classCodes.set(cls, code);
}

function describeLast(options: RidethroughErrorOptions): string {
  const last = options.attempts?.[options.attempts.length - 1];
  if (!last) return '';
  const what = last.code ?? (last.status === undefined ? 'unknown' : `HTTP ${last.status}`);
  return `; last: ${what}${last.address ? ` from ${last.address}` : ''}`;
}
