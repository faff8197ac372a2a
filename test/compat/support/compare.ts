/**
 * Runs one call through undici's `Agent` and through `ResilientAgent`, both built from the same options
 * object (undici ignores ridethrough's keys, ridethrough takes undici's), and reduces each result to
 * what a caller can observe: the value the call returned, or the error's class, code, message and causes.
 * Construction is part of the run: an option undici rejects when its first pool is made, ridethrough
 * rejects in its constructor, and both outcomes are the same error.
 */
import { Agent, type Dispatcher, Dispatcher1Wrapper } from 'undici';
import { ResilientAgent, RidethroughError, type ResilientAgentOptions } from '../../../src/index.js';

/** An error as a caller sees it. */
export interface ErrorShape {
  readonly class: string;
  readonly name: string;
  readonly code: unknown;
  readonly message: string;
  readonly cause?: ErrorShape;
}

/** What a call ended with. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: ErrorShape };

/** The two dispatchers under comparison. */
export type Kind = 'undici' | 'ridethrough';

/** How {@link shape} reads an error. */
export interface ShapeOptions {
  /**
   * Read a ridethrough give-up (a `RidethroughError`) as the error it carries in `cause`: the
   * documented way to get at undici's error (docs/compatibility.md).
   */
  readonly unwrapGiveUp?: boolean;
}

/** The observable shape of an error (and of its causes, three deep). */
export function shape(err: unknown, options: ShapeOptions = {}, depth = 0): ErrorShape {
  if (options.unwrapGiveUp && err instanceof RidethroughError) return shape(err.cause, options, depth);
  if (!(err instanceof Error)) return { class: typeof err, name: typeof err, code: undefined, message: String(err) };
  const cause = (err as { cause?: unknown }).cause;
  return {
    class: err.constructor.name,
    name: err.name,
    code: (err as { code?: unknown }).code,
    message: err.message,
    ...(cause !== undefined && depth < 3 ? { cause: shape(cause, options, depth + 1) } : {}),
  };
}

/** Builds a dispatcher of `kind` from `options`. */
export function make(kind: Kind, options: object): Dispatcher {
  return kind === 'undici' ? new Agent(options as Agent.Options) : new ResilientAgent(options as ResilientAgentOptions);
}

/**
 * A dispatcher to hand to Node's built-in fetch: on Node 22 and 24 it passes undici 6/7 handlers, which
 * undici 8's Agent takes only through `Dispatcher1Wrapper`; ResilientAgent takes them as they are.
 */
export function forBuiltinFetch(kind: Kind, dispatcher: Dispatcher): Dispatcher {
  const major = Number(process.versions.node.split('.')[0]);
  return kind === 'undici' && major < 26 ? new Dispatcher1Wrapper(dispatcher) : dispatcher;
}

/** Runs `call` on a dispatcher of `kind` built from `options`, then destroys it. */
export async function run(
  kind: Kind,
  options: object,
  call: (d: Dispatcher, kind: Kind) => Promise<unknown>,
  shapeOptions: ShapeOptions = {},
): Promise<Outcome> {
  let dispatcher: Dispatcher | undefined;
  try {
    dispatcher = make(kind, options);
    return { ok: true, value: await call(dispatcher, kind) };
  } catch (err) {
    return { ok: false, error: shape(err, shapeOptions) };
  } finally {
    await dispatcher?.destroy().catch(() => {});
  }
}

/** {@link run} with a dispatcher made by `create` (an undici Agent composed with `resilience()`, say), reported as `ridethrough`. */
export async function runWith(
  create: () => Dispatcher,
  call: (d: Dispatcher, kind: Kind) => Promise<unknown>,
  shapeOptions: ShapeOptions = {},
): Promise<Outcome> {
  let dispatcher: Dispatcher | undefined;
  try {
    dispatcher = create();
    return { ok: true, value: await call(dispatcher, 'ridethrough') };
  } catch (err) {
    return { ok: false, error: shape(err, shapeOptions) };
  } finally {
    await dispatcher?.destroy().catch(() => {});
  }
}

/** {@link run} on both dispatchers, one after the other (undici's first). */
export async function both(
  options: object,
  call: (d: Dispatcher, kind: Kind) => Promise<unknown>,
  shapeOptions: ShapeOptions = {},
): Promise<Record<Kind, Outcome>> {
  const undici = await run('undici', options, call, shapeOptions);
  const ridethrough = await run('ridethrough', options, call, shapeOptions);
  return { undici, ridethrough };
}

/** Response headers without the ones that change from one response to the next. */
export function stableHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const { date: _d, 'keep-alive': _k, ...rest } = headers;
  return rest;
}
