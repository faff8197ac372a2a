import { DnsResolutionError } from '../errors/errors.js';

const notFound = new Set(['ENOTFOUND', 'ENODATA', 'NOTFOUND', 'NODATA']);
/** libuv errno values Node puts on getaddrinfo errors. */
const errnos: Record<string, number> = { ENOTFOUND: -3008, EAI_AGAIN: -3001 };

/**
 * A resolution failure in the shape of Node's `dns.lookup` errors, so drivers that test `err.code`
 * behave as with the system resolver: `ENOTFOUND` for a name with no (matching) address, `EAI_AGAIN` for
 * a DNS failure that may pass (timeout, SERVFAIL, REFUSED); `syscall: 'getaddrinfo'`, `hostname`, and the
 * ridethrough error as `cause`.
 * @internal
 */
export function lookupError(hostname: string, cause?: unknown): NodeJS.ErrnoException & { hostname: string } {
  const dnsCode = cause instanceof DnsResolutionError ? cause.dnsCode : cause === undefined ? 'ENOTFOUND' : 'EAI_AGAIN';
  const code = notFound.has(dnsCode) ? 'ENOTFOUND' : 'EAI_AGAIN';
  const err = new Error(`getaddrinfo ${code} ${hostname}`, cause === undefined ? undefined : { cause }) as NodeJS.ErrnoException & { hostname: string };
  err.code = code;
  err.errno = errnos[code];
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  return err;
}
