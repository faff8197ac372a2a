import { describe, expect, it } from 'vitest';
import { Availability, boundSummary, requestBound, type UnavailabilityWindow } from '../../packages/lab/src/bound.js';

const move: UnavailabilityWindow[] = [{ from: 1_000, to: 3_000 }];

describe('requestBound', () => {
  it('is the rest of the window for a request sent inside it, else 0', () => {
    expect(requestBound(500, move)).toBe(0);
    expect(requestBound(1_000, move)).toBe(2_000);
    expect(requestBound(2_500, move)).toBe(500);
    // The window is half-open: at its end a reachable endpoint is published.
    expect(requestBound(3_000, move)).toBe(0);
    expect(requestBound(4_000, move)).toBe(0);
  });

  it('is 0 everywhere without a window (healthy peers: only the baseline latency remains)', () => {
    expect(requestBound(0, [])).toBe(0);
    expect(requestBound(1_234, [])).toBe(0);
  });

  it('uses the window the request was sent in', () => {
    const windows = [
      { from: 100, to: 200 },
      { from: 1_000, to: 1_600 },
    ];
    expect(requestBound(150, windows)).toBe(50);
    expect(requestBound(500, windows)).toBe(0);
    expect(requestBound(1_100, windows)).toBe(500);
  });
});

describe('boundSummary', () => {
  const record = (t: number, latencyMs: number, ok = true) => ({ t, latencyMs, ok });

  it('takes p99 and max of the bounds over the successful requests, and the latency above them', () => {
    // 100 requests, one every 40 ms from 0 to 3960 ms; each takes its bound plus 5 ms.
    const records = Array.from({ length: 100 }, (_, i) => record(i * 40, requestBound(i * 40, move) + 5));
    const s = boundSummary(records, move)!;
    expect(s.max).toBe(2_000);
    // Nearest rank: the 99th of 100 sorted bounds, the second largest (sent at 1040 ms).
    expect(s.p99).toBe(1_960);
    expect(s.excess).toEqual({ p99: 5, max: 5 });
  });

  it('leaves failed requests out of both sides', () => {
    const records = [record(1_000, 3, false), record(2_000, 1_020), record(3_500, 2)];
    expect(boundSummary(records, move)).toEqual({ p99: 1_000, max: 1_000, excess: { p99: 20, max: 20 } });
  });

  it('is the latency itself without a window, and null when nothing succeeded', () => {
    expect(boundSummary([record(10, 4), record(20, 7)], [])).toEqual({ p99: 0, max: 0, excess: { p99: 7, max: 7 } });
    expect(boundSummary([record(10, 4, false)], move)).toBeNull();
    expect(boundSummary([], [])).toBeNull();
  });

  it('goes negative for a client faster than the bound allows (it was not in the window)', () => {
    expect(boundSummary([record(1_500, 10)], move)!.excess).toEqual({ p99: -1_490, max: -1_490 });
  });
});

describe('Availability', () => {
  /** An Availability on a clock the test moves by hand. */
  function tracker(): { a: Availability; at: (t: number) => void } {
    let now = 0;
    return { a: new Availability(() => now), at: (t) => (now = t) };
  }

  it('a move: the old address is lost, the new one published later: one window', () => {
    const { a, at } = tracker();
    a.published(['10.0.0.1']);
    at(1_250);
    a.lost('10.0.0.1');
    at(3_250);
    a.published(['10.0.0.2']);
    expect(a.windows(5_000)).toEqual([{ from: 1_250, to: 3_250 }]);
  });

  it('a replica lost among healthy peers: no window', () => {
    const { a, at } = tracker();
    a.published(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    at(1_000);
    a.lost('10.0.0.2');
    at(3_000);
    a.published(['10.0.0.1', '10.0.0.3', '10.0.0.4']);
    expect(a.windows(5_000)).toEqual([]);
  });

  it('a rolling restart whose steps outrun DNS: a window once every listed address is gone', () => {
    const { a, at } = tracker();
    a.published(['p1', 'p2', 'p3']);
    at(1_250);
    a.lost('p1');
    at(1_950);
    a.lost('p2');
    at(2_650);
    a.lost('p3');
    // DNS step 1 lists p4 (up), p2 and p3 (gone): p4 is reachable again.
    at(3_250);
    a.published(['p4', 'p2', 'p3']);
    expect(a.windows(5_000)).toEqual([{ from: 2_650, to: 3_250 }]);
  });

  it('an address published before a loss stays known: a client may still have it cached', () => {
    const { a, at } = tracker();
    a.published(['p1']);
    a.published(['p2']);
    at(1_000);
    a.lost('p1');
    expect(a.windows(2_000)).toEqual([]);
    at(1_500);
    a.lost('p2');
    expect(a.windows(2_000)).toEqual([{ from: 1_500, to: 2_000 }]);
  });

  it('a window still open when traffic ends is closed there; moments before traffic count as 0', () => {
    const { a, at } = tracker();
    at(-20);
    a.published(['p1']);
    at(800);
    a.lost('p1');
    expect(a.windows(4_000)).toEqual([{ from: 800, to: 4_000 }]);
  });

  it('takes the publication time given, taken before the answer changed', () => {
    const { a, at } = tracker();
    a.published(['p1']);
    at(100);
    a.lost('p1');
    at(600);
    a.published(['p2'], 590);
    expect(a.windows(1_000)).toEqual([{ from: 100, to: 590 }]);
  });
});
