/**
 * The two clocks, as two types, so that one is never compared with the other.
 *
 * Everything that decides (deadlines, timers, TTLs, ejections, the breaker's open time, latencies) runs on
 * the monotonic clock: the wall clock can jump (NTP stepping it, a VM resumed, an operator), and a jump
 * back of an hour would otherwise keep a DNS answer fresh, an endpoint ejected or a breaker open for that
 * hour. The wall clock is only for what people read: the epoch times in answers, stats and errors, and
 * HTTP dates (`Retry-After`).
 * @module
 */

declare const monotonicBrand: unique symbol;
declare const epochBrand: unique symbol;

/** Milliseconds on the monotonic clock (`performance.now()`): never jumps; what deadlines, TTLs and ejections run on. @internal */
export type MonotonicMs = number & { readonly [monotonicBrand]: true };

/** Milliseconds since the Unix epoch (`Date.now()`): may jump; for times shown to people and HTTP dates. @internal */
export type EpochMs = number & { readonly [epochBrand]: true };

/** The `performance` read last, and the `setTimeout` that was global then. */
let clock: { now(): number } = globalThis.performance;
let clockTimers: typeof setTimeout = globalThis.setTimeout;

/** Now, on the monotonic clock. @internal */
export function monotonicNow(): MonotonicMs {
  // Node's global `performance` is a lazy accessor, costly to read per request; node:perf_hooks' object
  // would miss a caller's fake timers. Fake timers replace `performance` together with `setTimeout`, a
  // plain global: a new `setTimeout` means the global `performance` is read again.
  if (setTimeout !== clockTimers) {
    clockTimers = setTimeout;
    clock = performance;
  }
  return clock.now() as MonotonicMs;
}

/** Now, on the wall clock. @internal */
export function epochNow(): EpochMs {
  return Date.now() as EpochMs;
}

/** `ms` milliseconds after `at` (a duration added to a time stays on the same clock). @internal */
export function plus<T extends MonotonicMs | EpochMs>(at: T, ms: number): T {
  return (at + ms) as T;
}

// Per-request time fields start at `never`, not 0: a field that starts as a small integer and later holds a
// fractional time makes V8 replace its object's hidden class, and undici's caches that hold our handlers turn megamorphic.
/** A time that never comes (`Infinity`), on the monotonic clock; also the first value of a per-request time field set later. @internal */
export const never = Number.POSITIVE_INFINITY as MonotonicMs;

/** A time long past (`0`: before the process started), on the monotonic clock: "not yet" for fields like "last answered at". @internal */
export const longAgo = 0 as MonotonicMs;
