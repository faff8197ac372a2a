/**
 * The physical bound of a scenario: while no endpoint a client could have learned of is reachable,
 * no client can succeed, however clever. A request sent inside such a window cannot finish before
 * the window ends; any other request could, in principle, finish at once. A client's latency above
 * that bound is what its own behaviour (timeouts, backoff, caches) costs.
 * @module
 */
import { quantile, round } from './stats.js';

/**
 * An interval, in ms since the scenario's traffic started, during which none of the endpoints ever
 * published for the service was reachable: the old ones were gone and the new ones not yet in DNS.
 */
export interface UnavailabilityWindow {
  /** When the last reachable endpoint a client could know of went away. */
  readonly from: number;
  /** When DNS first answered a reachable endpoint again (or traffic ended). */
  readonly to: number;
}

/** The bound of one client's successful requests, and how far its latency stayed above it. */
export interface BoundSummary {
  /** p99 of the per-request bounds, ms. */
  readonly p99: number;
  /** Largest per-request bound, ms. */
  readonly max: number;
  /** Latency above the bound: p99 latency − p99 bound, and max latency − max bound, ms. */
  readonly excess: { readonly p99: number; readonly max: number };
}

/**
 * The least time a request sent at `start` can take: `windowEnd − start` when it was sent inside an
 * unavailability window, else 0.
 */
export function requestBound(start: number, windows: readonly UnavailabilityWindow[]): number {
  for (const w of windows) if (start >= w.from && start < w.to) return Math.max(0, w.to - start);
  return 0;
}

/**
 * The bound over a client's successful requests and its excess, `null` when none succeeded. Both
 * sides are taken over the same requests, so a client that fails inside a window is not credited
 * with a bound it never waited out (its failures are counted elsewhere).
 */
export function boundSummary(
  records: readonly { readonly t: number; readonly latencyMs: number; readonly ok: boolean }[],
  windows: readonly UnavailabilityWindow[],
): BoundSummary | null {
  const ok = records.filter((r) => r.ok);
  if (ok.length === 0) return null;
  const bounds = ok.map((r) => requestBound(r.t, windows)).sort((a, b) => a - b);
  const latencies = ok.map((r) => r.latencyMs).sort((a, b) => a - b);
  const p99 = quantile(bounds, 0.99);
  const max = bounds[bounds.length - 1]!;
  return {
    p99: round(p99),
    max: round(max),
    excess: { p99: round(quantile(latencies, 0.99) - p99), max: round(latencies[latencies.length - 1]! - max) },
  };
}

/**
 * Follows which endpoints a client could know of (every address published so far) and which of
 * them are gone, and records the windows in which none is left.
 */
export class Availability {
  private readonly known = new Set<string>();
  private readonly gone = new Set<string>();
  private openedAt: number | undefined;
  private readonly closed: UnavailabilityWindow[] = [];

  /** @param now - the current time on the scenario's clock (ms since traffic started; ≤ 0 before) */
  constructor(private readonly now: () => number) {}

  /** DNS answers these addresses from `at` (a time taken before the answer changed) on. */
  published(addresses: readonly string[], at = this.now()): void {
    for (const a of addresses) this.known.add(a);
    this.update(at);
  }

  /** `address` stops being reachable now (stopped, blackholed, its answers dropped). */
  lost(address: string): void {
    this.gone.add(address);
    this.update(this.now());
  }

  /** The windows so far; one still open is closed at `end`. */
  windows(end: number): UnavailabilityWindow[] {
    const all = [...this.closed];
    if (this.openedAt !== undefined && end > this.openedAt) all.push({ from: round(this.openedAt), to: round(end) });
    return all;
  }

  private update(at: number): void {
    const t = Math.max(0, at);
    const reachable = [...this.known].some((a) => !this.gone.has(a));
    if (!reachable && this.openedAt === undefined && this.known.size > 0) this.openedAt = t;
    if (reachable && this.openedAt !== undefined) {
      if (t > this.openedAt) this.closed.push({ from: round(this.openedAt), to: round(t) });
      this.openedAt = undefined;
    }
  }
}
