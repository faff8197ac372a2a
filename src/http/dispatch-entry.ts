import { type Dispatcher, errors } from 'undici';
import type { ResilienceContext } from '../core/context.js';
import { validateOverrides } from '../core/options.js';
import { checkDispatchEnvelope, checkDispatchOptions, checkDispatchOrigin } from './dispatch-options.js';
import { isModernHandler, type LegacyHandler, LegacyHandlerAdapter } from './legacy-handler.js';
import { type AttemptTransport, type FlowExtras, RequestFlow, type ResilientDispatchOptions } from './request-flow.js';

/**
 * Where a request enters ridethrough, for the agent and the interceptor alike: undici's checks of the
 * handler and the dispatch options, in undici's order and before any DNS query or connection, then
 * the request flow, started synchronously as undici's own dispatchers start a request.
 * @param checkDispatcher - the dispatcher's own checks (closed, destroyed, origins), run where undici runs them
 * @internal
 */
export function dispatchFlow(
  ctx: ResilienceContext,
  transport: AttemptTransport,
  options: Dispatcher.DispatchOptions,
  handler: Dispatcher.DispatchHandler | LegacyHandler,
  extras: FlowExtras | undefined,
  checkDispatcher: ((options: Dispatcher.DispatchOptions) => void) | undefined,
): boolean {
  if (handler === null || typeof handler !== 'object') throw new errors.InvalidArgumentError('handler must be an object');
  const legacy = !isModernHandler(handler);
  const modern: Dispatcher.DispatchHandler = legacy ? new LegacyHandlerAdapter(handler as LegacyHandler) : (handler as Dispatcher.DispatchHandler);
  let flow: RequestFlow;
  try {
    checkDispatchEnvelope(options);
    if (checkDispatcher !== undefined) checkDispatcher(options);
    else checkDispatchOrigin(options.origin);
    let opts = checkDispatchOptions(options, legacy ? undefined : modern);
    // An undici 6/7 consumer (Node 22/24's WebSocket) cannot fall back from an HTTP/2 handshake: HTTP/1.1, as undici's Dispatcher1Wrapper.
    if (legacy && opts.upgrade) opts = { ...opts, allowH2: false } as Dispatcher.DispatchOptions;
    validateOverrides((opts as ResilientDispatchOptions).ridethrough);
    flow = new RequestFlow(ctx, transport, opts, modern, extras);
  } catch (err) {
    if (typeof modern.onResponseError !== 'function') throw err;
    modern.onResponseError(null as never, err as Error);
    return true;
  }
  flow.start();
  return true;
}
