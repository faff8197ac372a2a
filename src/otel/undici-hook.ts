import { type Attributes, context } from '@opentelemetry/api';
import { type AttemptContext, attemptKey } from './request-trace.js';
import { semconv } from './names.js';

/**
 * The part of `@opentelemetry/instrumentation-undici`'s `UndiciInstrumentation` that
 * {@link instrumentRidethrough} uses: its config, whose `startSpanHook` it wraps.
 */
export interface UndiciInstrumentationLike {
  /** The instrumentation's current config. */
  getConfig(): { readonly startSpanHook?: ((request: never) => Attributes) | undefined };
  /** Replaces the instrumentation's config. */
  setConfig(config: object): void;
}

/**
 * A `startSpanHook` for `@opentelemetry/instrumentation-undici`: on an attempt ridethrough sends, it
 * sets `http.request.resend_count` (attempts after the first) and the request's host name as
 * `server.address` and `url.full` (the `resilience()` interceptor sends to a pod IP origin; the IP stays
 * in `network.peer.address`). Other requests get nothing. Pass it yourself when you build the
 * instrumentation, or give the instrumentation to {@link instrumentRidethrough}, which wraps its hook.
 *
 * @example
 * ```ts
 * import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
 * import { ridethroughAttemptAttributes } from 'ridethrough/otel';
 * const undici = new UndiciInstrumentation({ startSpanHook: ridethroughAttemptAttributes });
 * ```
 */
export function ridethroughAttemptAttributes(): Attributes {
  const a = context.active().getValue(attemptKey) as AttemptContext | undefined;
  if (a === undefined) return {};
  const out: Attributes = { [semconv.serverAddress]: a.hostname, [semconv.serverPort]: a.port, [semconv.urlFull]: a.urlFull };
  if (a.attempt > 1) out[semconv.resendCount] = a.attempt - 1;
  return out;
}

/**
 * Wraps the instrumentation's `startSpanHook` with {@link ridethroughAttemptAttributes} (the user's
 * hook still runs, ridethrough's attributes win on attempts); returns the undo.
 * @internal
 */
export function wrapUndiciHook(instrumentation: UndiciInstrumentationLike): () => void {
  const original = instrumentation.getConfig().startSpanHook as ((request: unknown) => Attributes | undefined) | undefined;
  const hook = (request: unknown): Attributes => {
    const own = ridethroughAttemptAttributes();
    return original === undefined ? own : { ...original(request), ...own };
  };
  instrumentation.setConfig({ ...instrumentation.getConfig(), startSpanHook: hook });
  return () => {
    // Someone replaced the config since: leave theirs.
    if (instrumentation.getConfig().startSpanHook !== hook) return;
    instrumentation.setConfig({ ...instrumentation.getConfig(), startSpanHook: original });
  };
}
