/**
 * ridethrough's clock under a caller's fake timers: the timers and the clock that deadlines are checked
 * against must be the same one, or a faked timer would fire against a real clock, find nothing due, and
 * re-arm forever. The clock keeps the `performance` it read until the global `setTimeout` changes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, type DeadlineEntry } from '../../src/timing/deadlines.js';
import { longAgo, monotonicNow } from '../../src/timing/clock.js';

function entry(onExpire: () => void): DeadlineEntry {
  return { expire: onExpire, deadlineExpiresAt: longAgo, deadlinePrev: undefined, deadlineNext: undefined, deadlineList: undefined };
}

describe('the monotonic clock and fake timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('follows fake timers once they are installed, and the real clock once they are gone', () => {
    const realBefore = monotonicNow();
    vi.useFakeTimers();
    const fakeStart = monotonicNow();
    expect(fakeStart).toBe(performance.now());
    vi.advanceTimersByTime(10_000);
    expect(monotonicNow() - fakeStart).toBe(10_000);
    vi.useRealTimers();
    const realAfter = monotonicNow();
    // Back on the process's clock: after the first reading, and far from ten faked seconds later.
    expect(realAfter).toBeGreaterThanOrEqual(realBefore);
    expect(realAfter - realBefore).toBeLessThan(10_000);
  });

  it('expires a deadline when fake time passes it, and not before', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines();
    let expired = 0;
    deadlines.add(
      entry(() => expired++),
      5_000,
    );
    vi.advanceTimersByTime(4_999);
    expect(expired).toBe(0);
    vi.advanceTimersByTime(2);
    expect(expired).toBe(1);
    // Nothing left that re-arms: every timer ran.
    expect(vi.getTimerCount()).toBe(0);
  });
});
