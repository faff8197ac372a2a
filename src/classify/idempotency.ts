/** Methods RFC 9110 defines as idempotent. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether a request may be sent twice: an idempotent method, or any request that carries an
 * `Idempotency-Key` header; an explicit `override` wins.
 */
export function isIdempotent(method: string, hasIdempotencyKey: boolean, override: boolean | undefined): boolean {
  if (override !== undefined) return override;
  return idempotentMethods.has(method.toUpperCase()) || hasIdempotencyKey;
}
