import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { ResilienceContext } from '../core/context.js';
import { ConnectRun } from './connect-run.js';
import { type ResilientConnectOptions, resolveConnectOptions, validateConnectOptions } from './connect-options.js';
import { sharedContext } from './shared-context.js';

/**
 * Opens a TCP (or TLS) connection that rides out a moved pod: resolves `host` through ridethrough's DNS
 * cache (record TTLs, stale answers while DNS fails, re-resolution when an address fails), picks a
 * healthy address, connects with a short `connectTimeout`, and on failure retries another address with
 * jittered backoff inside the overall `deadline`; with nowhere to go it waits in the host's waiting room,
 * which the DNS answer that adds an address ends at once.
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
export function resilientConnect(
  options: ResilientConnectOptions & { readonly tls: true | ConnectionOptions },
  context?: ResilienceContext,
): Promise<TLSSocket>;
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
