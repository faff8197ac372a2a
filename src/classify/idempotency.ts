import { getHeader } from '../attempt/headers.js';

/** Methods RFC 9110 defines as idempotent. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether a request may be sent twice: an idempotent method, or any request that carries an
 * `Idempotency-Key` header (looked for only when the method is not idempotent); an explicit `override` wins.
 */
export function isIdempotent(method: string, headers: unknown, override: boolean | undefined): boolean {
  if (override !== undefined) return override;
  return idempotentMethods.has(method.toUpperCase()) || getHeader(headers, 'idempotency-key') !== undefined;
}
