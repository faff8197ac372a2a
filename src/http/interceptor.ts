import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { withHost } from '../utils/headers.js';
import { dispatchFlow } from './dispatch-entry.js';
import { H2WebSocketFallback } from './h2-websocket.js';
import { type OriginStats, ResilienceContext } from '../core/context.js';
import type { ResilienceOptions } from '../core/options.js';
import { urlHost } from '../core/origin.js';
import type { AttemptTransport } from './request-flow.js';

/**
 * What {@link resilience} returns: an undici interceptor (compose it into an `Agent`) that also shows
 * ridethrough's per-origin state, so `instrumentRidethrough({ agents: [interceptor] })` can feed its gauges.
 */
export interface ResilienceInterceptor extends Dispatcher.DispatchInterceptor {
  /**
   * Per-origin state keyed by origin (`protocol//host:port`, the host name's origin, not the pod IPs'):
   * breaker, retry budget, waiting requests and endpoint health, as {@link OriginStats}. A fresh snapshot
   * at each read. One state for every `Agent` this interceptor is composed into; undici's pool counters
   * are the composed `Agent`'s own `stats` (keyed by pod IP).
   */
  readonly stats: Readonly<Record<string, OriginStats>>;
}

/**
 * ridethrough as an undici interceptor, for an `Agent` you already configure:
 * `new Agent({ connect: { timeout: 1_000 } }).compose(resilience())`.
 *
 * Each attempt is sent to the next dispatcher with the origin rewritten to the chosen endpoint IP (the
 * Host header and TLS servername keep the host name), so the composed agent keeps one pool per IP.
 * undici's OpenTelemetry instrumentation therefore sees the pod IP as `server.address`; `ridethrough/otel`
 * puts the host name back (docs/observability.md).
 * The connect timeout is the composed agent's (`connect.timeout`): set it low, the interceptor cannot.
 * Once the composed agent is closing or destroyed, a request it refuses fails at once with undici's
 * `ClientClosedError` or `ClientDestroyedError`, as it would without the interceptor: no retry through it
 * can succeed (a request waiting to retry meanwhile too, at its next attempt).
 * The returned interceptor's `stats` show the per-origin state (pass it in `instrumentRidethrough`'s `agents`).
 *
 * @example
 * ```ts
 * import { Agent, request } from 'undici';
 * import { resilience } from 'ridethrough';
 * const dispatcher = new Agent({ connect: { timeout: 1_000 } }).compose(resilience({ deadline: 8_000 }));
 * await request('http://catalog:8080/items', { dispatcher });
 * ```
 */
export function resilience(options: ResilienceOptions = {}): ResilienceInterceptor {
  const ctx = new ResilienceContext(options);
  const interceptor: Dispatcher.DispatchInterceptor = (dispatch) => {
    const transport: AttemptTransport = {
      // The composed agent's timeouts are its own: each attempt carries ridethrough's.
      appliesTimeouts: false,
      // Not ours: once closed or destroyed it stays so, and its error goes to the caller at once.
      carrier: 'composed',
      // Closing is the composed agent's business.
      live: undefined,
      send(origin, endpoint, attemptOpts, attemptHandler) {
        const opts = {
          ...attemptOpts,
          // A discovered endpoint's own port (a Service's targetPort) when it has one.
          origin: `${origin.protocol}//${urlHost(endpoint.address.address)}:${endpoint.address.port ?? origin.port}`,
          headers: withHost(attemptOpts.headers, origin.host),
          // An IP is no TLS server name (Node 26 refuses one): undici then sends no SNI, as for an IP origin.
          ...(origin.protocol === 'https:' && isIP(origin.hostname) === 0 ? { servername: origin.hostname } : {}),
        } as Dispatcher.DispatchOptions;
        // A WebSocket handshake an HTTP/2 server without RFC 8441 refuses is sent again over HTTP/1.1 (see H2WebSocketFallback).
        const handler =
          attemptOpts.upgrade === 'websocket' && (attemptOpts as { allowH2?: boolean }).allowH2 !== false
            ? new H2WebSocketFallback(attemptHandler, (h) => dispatch({ ...opts, allowH2: false } as Dispatcher.DispatchOptions, h))
            : attemptHandler;
        dispatch(opts, handler);
      },
    };
    // undici's checks run here, before any DNS query: the composed agent would make them only per attempt.
    return function resilientDispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      return dispatchFlow(ctx, transport, opts, handler, undefined, undefined);
    };
  };
  // A getter, not a copy: the gauges read it at each collection.
  return Object.defineProperty(interceptor, 'stats', { get: () => ctx.stats, enumerable: true }) as ResilienceInterceptor;
}
