import type { ResolvedHedge } from '../core/options.js';
import type { LatencyWindow } from '../health/latency-window.js';

/**
 * How long a request waits for response headers before it sends a hedge: `delay`, or with `percentile`
 * that percentile of the origin's recent time to headers once 20 samples exist, never below `minDelay`.
 */
export function hedgeDelay(hedge: ResolvedHedge, latencies: LatencyWindow): number {
  const fallback = hedge.delay;
  if (hedge.percentile === undefined || latencies.size < 20) return fallback;
  return Math.max(hedge.minDelay, latencies.percentile(hedge.percentile) ?? fallback);
}
