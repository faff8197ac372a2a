import type { HedgeOptions } from '../core/options.js';
import type { LatencyWindow } from '../health/latency-window.js';

/** The `hedge` option's defaults. */
export const hedgeDefaults = { delay: 100, minDelay: 5, maxHedges: 1 } as const;

/**
 * How long a request waits for response headers before it sends a hedge: `delay`, or with `percentile`
 * that percentile of the origin's recent time to headers once 20 samples exist, never below `minDelay`.
 */
export function hedgeDelay(hedge: HedgeOptions, latencies: LatencyWindow): number {
  const fallback = hedge.delay ?? hedgeDefaults.delay;
  if (hedge.percentile === undefined || latencies.size < 20) return fallback;
  return Math.max(hedge.minDelay ?? hedgeDefaults.minDelay, latencies.percentile(hedge.percentile) ?? fallback);
}
