/** The waiting room and ejection helpers on their own: real timers, no sockets. */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ejectionDuration, mayEjectAnother } from '../../src/endpoints/ejection.js';
import { type WakeReason, WaitingRoom } from '../../src/endpoints/waiting-room.js';
import { plus, monotonicNow } from '../../src/timing/clock.js';

describe('WaitingRoom', () => {
  it('re-queries at once for the first waiter, then on its cadence while anyone waits, and stops when the room empties', async () => {
    let refreshes = 0;
    const room = new WaitingRoom('h', 20, () => refreshes++);
    const w = { wake: () => {} };
    room.park(w);
    expect(refreshes).toBe(1);
    await sleep(210);
    // 200 ms at one per 16–24 ms: about 10; at most 1.25 per interval.
    expect(refreshes).toBeGreaterThanOrEqual(6);
    expect(refreshes).toBeLessThanOrEqual(1 + Math.ceil(210 / 16));
    room.leave(w);
    const stopped = refreshes;
    await sleep(60);
    expect(refreshes).toBe(stopped);
  });

  it('re-parking right after a release does not re-query faster than the cadence', async () => {
    let refreshes = 0;
    const room = new WaitingRoom('h', 50, () => refreshes++);
    const w = { wake: () => room.park(w) };
    room.park(w);
    for (let i = 0; i < 20; i++) room.release('restored');
    expect(refreshes).toBe(1);
    room.close();
  });

  it('release wakes every waiter once with the reason; wakeAt releases when an ejection ends', async () => {
    const room = new WaitingRoom('h', 1_000, () => {});
    const woken: WakeReason[] = [];
    room.park({ wake: (r) => woken.push(r) });
    room.park({ wake: (r) => woken.push(r) });
    expect(room.release('dns')).toBe(2);
    expect(woken).toEqual(['dns', 'dns']);
    expect(room.size).toBe(0);
    room.park({ wake: (r) => woken.push(r) });
    room.wakeAt(plus(monotonicNow(), 30));
    await sleep(80);
    expect(woken).toEqual(['dns', 'dns', 'ejection-ended']);
  });
});

describe('ejection', () => {
  const o = { baseTime: 10_000, maxTime: 120_000, maxPercent: 50, consecutiveFailures: 5 };
  it('doubles per earlier ejection within ±15 % jitter, capped at maxTime', () => {
    expect(ejectionDuration(o, 0, 0.5)).toBe(10_000);
    expect(ejectionDuration(o, 1, 0)).toBe(17_000);
    expect(ejectionDuration(o, 1, 0.999999)).toBe(23_000);
    expect(ejectionDuration(o, 10, 0.5)).toBe(120_000);
  });
  it('keeps ejections within maxPercent', () => {
    expect(mayEjectAnother(0, 3, 50)).toBe(true);
    expect(mayEjectAnother(1, 3, 50)).toBe(false);
    expect(mayEjectAnother(1, 3, 70)).toBe(true);
  });
});
