/**
 * Turning request records into the numbers of a {@link ClientRun}: percentiles, time slices, spread.
 * @module
 */
import type { LatencySummary, Sample, SpreadBucket, TimelineBucket } from './types.js';

/** One finished request, as the traffic driver records it. */
export interface RequestRecord {
  /** Sequence number in the schedule. */
  readonly seq: number;
  /** Send time, ms since the scenario started. */
  readonly t: number;
  /** Time to the end of the response body (or to the failure), ms. */
  readonly latencyMs: number;
  /** Whether a 2xx response was read. */
  readonly ok: boolean;
  /** Error code when it failed. */
  readonly code?: string;
  /** The pod that answered, when known. */
  readonly pod?: string;
}

/** The `q` quantile (0–1) of sorted numbers, nearest-rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** p50/p99/max of the successful requests, or `null` when none succeeded. */
export function latencySummary(records: readonly RequestRecord[]): LatencySummary | null {
  const sorted = records
    .filter((r) => r.ok)
    .map((r) => r.latencyMs)
    .sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return { p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)), max: round(sorted[sorted.length - 1]!) };
}

/** Failures counted by code, most frequent first. */
export function errorCounts(records: readonly RequestRecord[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) if (!r.ok) counts.set(r.code ?? 'EUNKNOWN', (counts.get(r.code ?? 'EUNKNOWN') ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

/** Success per slice of `bucketMs`, by send time, over `[0, durationMs)`. */
export function timeline(records: readonly RequestRecord[], durationMs: number, bucketMs: number): TimelineBucket[] {
  const n = Math.max(1, Math.ceil(durationMs / bucketMs));
  const buckets = Array.from({ length: n }, (_, i) => ({ t: i * bucketMs, sent: 0, ok: 0, failed: 0 }));
  for (const r of records) {
    const b = buckets[Math.min(n - 1, Math.floor(r.t / bucketMs))]!;
    b.sent++;
    if (r.ok) b.ok++;
    else b.failed++;
  }
  return buckets;
}

/** Successful requests per pod per slice of `bucketMs`. */
export function spread(records: readonly RequestRecord[], durationMs: number, bucketMs: number): SpreadBucket[] {
  const n = Math.max(1, Math.ceil(durationMs / bucketMs));
  const buckets = Array.from({ length: n }, (_, i) => ({ t: i * bucketMs, byPod: {} as Record<string, number> }));
  for (const r of records) {
    if (!r.ok || r.pod === undefined) continue;
    const b = buckets[Math.min(n - 1, Math.floor(r.t / bucketMs))]!;
    b.byPod[r.pod] = (b.byPod[r.pod] ?? 0) + 1;
  }
  return buckets;
}

/** Compact samples for the latency chart. */
export function samples(records: readonly RequestRecord[]): Sample[] {
  return records.map((r) => [r.t, round(r.latencyMs), r.ok ? 1 : 0] as const);
}

/** Slice width for a timeline: about 40 slices, a multiple of 50 ms, at least 100 ms. */
export function bucketFor(durationMs: number): number {
  return Math.max(100, Math.round(durationMs / 40 / 50) * 50);
}

/** Rounds to 0.1 ms. */
export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
