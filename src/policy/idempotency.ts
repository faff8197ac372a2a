import { getHeader } from '../utils/headers.js';

/** Whether RFC 9110 defines `method` (upper case) as idempotent. */
function isIdempotentMethod(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}

/**
 * A request method in upper case (`GET` when there is none). The common methods are returned as they
 * are: upper-casing a string costs a call into the runtime on every request.
 */
export function normalizeMethod(method: string | undefined): string {
  switch (method) {
    case undefined:
      return 'GET';
    case 'GET':
    case 'HEAD':
    case 'POST':
    case 'PUT':
    case 'DELETE':
    case 'PATCH':
    case 'OPTIONS':
      return method;
    default:
      return method.toUpperCase();
  }
}

/**
 * Whether a request may be sent twice: an idempotent method, or any request that carries an
 * `Idempotency-Key` header (looked for only when the method is not idempotent); an explicit `override` wins.
 * @param method - the method as {@link normalizeMethod} returns it (upper case)
 */
export function isIdempotent(method: string, headers: unknown, override: boolean | undefined): boolean {
  if (override !== undefined) return override;
  return isIdempotentMethod(method) || getHeader(headers, 'idempotency-key') !== undefined;
}
