import type { Dispatcher } from 'undici';
import { withHost } from '../utils/headers.js';
import { isModernHandler, type LegacyHandler, LegacyHandlerAdapter } from './legacy-handler.js';
import { ResilienceContext } from '../core/context.js';
import { type ResilienceOptions, validateOverrides } from '../core/options.js';
import { urlHost } from './origin.js';
import { type AttemptTransport, RequestFlow, type ResilientDispatchOptions } from './request-flow.js';

/**
 * ridethrough as an undici interceptor, for an `Agent` you already configure:
 * `new Agent({ connect: { timeout: 1_000 } }).compose(resilience())`.
 *
 * Each attempt is sent to the next dispatcher with the origin rewritten to the chosen endpoint IP (the
 * Host header and TLS servername keep the host name), so the composed agent keeps one pool per IP.
 * The connect timeout is the composed agent's (`connect.timeout`): set it low, the interceptor cannot.
 *
 * @example
 * ```ts
 * import { Agent, request } from 'undici';
 * import { resilience } from 'ridethrough';
 * const dispatcher = new Agent({ connect: { timeout: 1_000 } }).compose(resilience({ deadline: 8_000 }));
 * await request('http://catalog:8080/items', { dispatcher });
 * ```
 */
export function resilience(options: ResilienceOptions = {}): Dispatcher.DispatchInterceptor {
  const ctx = new ResilienceContext(options);
  return (dispatch) => {
    const transport: AttemptTransport = {
      // The composed agent's timeouts are its own: each attempt carries ridethrough's.
      appliesTimeouts: false,
      send(origin, endpoint, attemptOpts, attemptHandler) {
        dispatch(
          {
            ...attemptOpts,
            origin: `${origin.protocol}//${urlHost(endpoint.address.address)}:${origin.port}`,
            headers: withHost(attemptOpts.headers, origin.host),
            ...(origin.protocol === 'https:' ? { servername: origin.hostname } : {}),
          } as Dispatcher.DispatchOptions,
          attemptHandler,
        );
      },
    };
    return function resilientDispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      const modern = isModernHandler(handler) ? handler : new LegacyHandlerAdapter(handler as LegacyHandler);
      let flow: RequestFlow;
      try {
        validateOverrides((opts as ResilientDispatchOptions).ridethrough);
        flow = new RequestFlow(ctx, transport, opts, modern);
      } catch (err) {
        queueMicrotask(() => modern.onResponseError?.(null as never, err as Error));
        return true;
      }
      flow.start();
      return true;
    };
  };
}
