/**
 * How a failed attempt is classified, which decides whether it may be retried.
 * - `unsent`: the request surely never reached the server (connect failures, DNS): retry any method.
 * - `maybe-sent`: the request may have reached the server (reset, "other side closed", headers timeout):
 *   retry only idempotent requests with a replayable body.
 * - `fatal`: not a failure a retry can fix (bad arguments, caller abort, TLS certificate errors).
 */
export type FailureClass = 'unsent' | 'maybe-sent' | 'fatal';

/** Error codes that can only happen before the request was written. */
const connectCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  // node:net on Node 24.20+ reports a refused connect of a socket that closes while connecting this way.
  'ERR_SOCKET_CLOSED_BEFORE_CONNECTION',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'EPERM',
  'EACCES',
  'EAI_AGAIN',
  'ENOTFOUND',
  'RIDETHROUGH_DNS',
]);

/** Network errors that may happen after the request was (partly) written. */
const ambiguousCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  // undici's ClientClosedError: the pool the attempt was dispatched to was closed (see dispatcherGone).
  'UND_ERR_CLOSED',
  'UND_ERR_INFO',
]);

/**
 * Who carried an attempt:
 * - `pool`: one of ResilientAgent's own endpoint pools, which the agent retires and replaces
 *   (`maxConnectionAge`, an endpoint leaving DNS) while it stays open;
 * - `composed`: the dispatcher the `resilience()` interceptor is composed on (the user's `Agent`),
 *   which the interceptor does not own and which never reopens once closed.
 */
export type AttemptCarrier = 'pool' | 'composed';

/**
 * Whether the error says that the dispatcher that carried the attempt is closed or destroyed for good,
 * so that no retry through it can succeed. `UND_ERR_DESTROYED` (undici's `ClientDestroyedError`): always.
 * `UND_ERR_CLOSED` (`ClientClosedError`, a dispatch to a dispatcher that is closing): only from the
 * dispatcher the interceptor is composed on. On the agent's own pools it stays a retryable failure that
 * never left: a retired pool is replaced, not reopened. (undici 8 still serves the requests queued on a
 * pool it closes and refuses only new dispatches, and the agent dispatches none to a retired pool, so
 * there it is a safeguard, for a dispatcher a caller's `factory` returns.)
 * @param err - the error the attempt failed with
 * @param carrier - who carried the attempt
 */
export function dispatcherGone(err: unknown, carrier: AttemptCarrier): boolean {
  return isGone(errorCode(err), carrier);
}

function isGone(code: string, carrier: AttemptCarrier): boolean {
  return code === 'UND_ERR_DESTROYED' || (code === 'UND_ERR_CLOSED' && carrier === 'composed');
}

/**
 * Classifies an attempt's error.
 * @param err - the error the attempt failed with
 * @param started - whether the request was handed to a connection (undici called `onRequestStart`)
 * @param carrier - who carried the attempt (for a closed or destroyed dispatcher, {@link dispatcherGone}); `pool` by default
 */
export function classifyError(err: unknown, started: boolean, carrier: AttemptCarrier = 'pool'): FailureClass {
  const code = errorCode(err);
  if (connectCodes.has(code)) return 'unsent';
  if (isGone(code, carrier)) return 'fatal';
  if (ambiguousCodes.has(code)) return started ? 'maybe-sent' : 'unsent';
  return 'fatal';
}

/** Whether the failure says something about the endpoint's health (used for ejection and breakers). */
export function isConnectFailure(err: unknown): boolean {
  return connectCodes.has(errorCode(err));
}

/** The `code` of an error (the `cause`'s when the error has none), or `EUNKNOWN`. */
export function errorCode(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return 'EUNKNOWN';
}
