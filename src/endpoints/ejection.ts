import { type OptionGroup, millis, num } from '../utils/option-table.js';
import type { Endpoint } from './endpoint.js';

/** Endpoint (per IP) ejection: how long a failing address is kept out of rotation. */
export interface EjectionOptions {
  /** First ejection time in ms; doubles on each repeated ejection (with jitter). Default 10000. Range 100–3600000. */
  readonly baseTime?: number;
  /** Longest ejection time in ms. Default 120000. Range 100–3600000 and at least `baseTime`. */
  readonly maxTime?: number;
  /**
   * Most endpoints of one host that may be ejected at once for 5xx responses, timeouts or silence, as a
   * percentage (Envoy's max_ejection_percent). Failing connects always mark an address bad; when every
   * address is bad the least bad one is tried rather than failing without trying. Default 50. Range 0–100.
   */
  readonly maxPercent?: number;
  /** Consecutive 5xx responses or timeouts that eject an address. Default 5 (Envoy). Range 1–1000. */
  readonly consecutiveFailures?: number;
}

/** The `ejection` option's rules. @internal */
export const ejectionOptions: OptionGroup<EjectionOptions> = {
  table: {
    baseTime: millis(100, 3_600_000, 10_000, 'First ejection time of a failing address; doubles on each repeat (±15 % jitter).'),
    maxTime: millis(100, 3_600_000, 120_000, 'Longest ejection.', { rangeText: '100–3600000, ≥ baseTime' }),
    maxPercent: num(
      0,
      100,
      50,
      "Most of a host's addresses ejected at once for 5xx, timeouts or silence. Connect failures are not bound by it; when every address is ejected the least bad one is still tried.",
    ),
    consecutiveFailures: num(1, 1000, 5, '5xx responses or timeouts in a row that eject an address (Envoy: 5). Connect failures eject at once.', {
      integer: true,
    }),
  },
  relations: (e, path) => {
    if (e.maxTime < e.baseTime) {
      throw new RangeError(`ridethrough: option "${path('maxTime')}" must be at least ${path('baseTime')} (${e.baseTime}), got ${e.maxTime}`);
    }
  },
};

/**
 * How long the next ejection of an endpoint lasts: `baseTime` doubled per earlier ejection, ±15 %
 * jitter, never past `maxTime`.
 * @param random - a number in [0, 1)
 */
export function ejectionDuration(o: Required<EjectionOptions>, earlierEjections: number, random: number): number {
  const base = Math.min(o.maxTime, o.baseTime * 2 ** Math.min(earlierEjections, 20));
  return Math.min(o.maxTime, Math.round(base * (0.85 + random * 0.3)));
}

/** Whether one more endpoint of `total` may be ejected while `ejected` already are. */
export function mayEjectAnother(ejected: number, total: number, maxPercent: number): boolean {
  return ((ejected + 1) / total) * 100 <= maxPercent;
}

/** Among ejected endpoints: the one that did not just fail, then the one whose ejection ends first. */
export function lessBad(a: Endpoint, b: Endpoint, last: string | undefined): boolean {
  const aLast = a.address.address === last;
  const bLast = b.address.address === last;
  if (aLast !== bLast) return bLast;
  return a.ejectedUntil < b.ejectedUntil;
}
