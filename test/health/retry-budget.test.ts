/**
 * The retry budget's sliding window on its own, with the clock passed in: what a deposit buys, when
 * requests and retries leave the window, the floor, and jumps of the clock.
 * (The end-to-end budget tests against real servers are in budget.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/health/retry-budget.js';
import type { MonotonicMs } from '../../src/timing/clock.js';

const t0 = 1_700_000_000_000;
/** `ms` after t0, on the monotonic clock the budget reads. */
const at = (ms = 0): MonotonicMs => (t0 + ms) as MonotonicMs;

/** Takes retries until the budget refuses; returns how many it granted. */
function drain(budget: RetryBudget, now: MonotonicMs): number {
  let granted = 0;
  while (budget.tryWithdraw(now)) granted++;
  return granted;
}

describe('RetryBudget', () => {
  it('grants ratio × requests in the window plus the floor, then refuses and counts refusals', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 100; i++) budget.deposit(at(i));
    expect(budget.available(at(100))).toBe(20);
    expect(drain(budget, at(100))).toBe(20);
    expect(budget.available(at(100))).toBe(0);
    expect(budget.refused).toBe(1);
    expect(budget.tryWithdraw(at(101))).toBe(false);
    expect(budget.refused).toBe(2);
  });

  it('the floor alone allows minPerSecond × window retries with no traffic at all', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3, window: 10_000 });
    expect(drain(budget, at())).toBe(30);
  });

  it('requests count for one window: they leave it bucket by bucket (tenths of the window)', () => {
    const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    budget.deposit(at()); // opens the first bucket, [t0, t0 + 1000)
    for (let i = 0; i < 9; i++) budget.deposit(at(500));
    for (let i = 0; i < 10; i++) budget.deposit(at(4_500)); // bucket [t0 + 4000, t0 + 5000)
    expect(budget.available(at(9_999))).toBe(20);
    // The first bucket leaves the window when the eleventh bucket opens.
    expect(budget.available(at(10_000))).toBe(10);
    // The second one, [t0 + 4000, t0 + 5000), when the bucket opening at t0 + 14000 does.
    expect(budget.available(at(13_999))).toBe(10);
    expect(budget.available(at(14_000))).toBe(0);
  });

  it('retries leave the window with their requests, so fresh traffic buys fresh retries', () => {
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000 });
    for (let i = 0; i < 10; i++) budget.deposit(at());
    expect(drain(budget, at(50))).toBe(5);
    // 20 requests in the window buy 10 retries, 5 of them spent already.
    for (let i = 0; i < 10; i++) budget.deposit(at(600));
    expect(drain(budget, at(600))).toBe(5);
    // The first bucket (10 requests, 5 retries) has left the window; the second (10, 5) is still in it.
    expect(budget.available(at(1_000))).toBe(0);
    // Both have left: new requests are not charged for their retries.
    for (let i = 0; i < 10; i++) budget.deposit(at(1_700));
    expect(drain(budget, at(1_700))).toBe(5);
  });

  it('a clock jump past the whole window forgets everything; one just short of it keeps the oldest bucket', () => {
    const long = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 7; i++) long.deposit(at());
    long.tryWithdraw(at());
    expect(long.available(at(3_600_000))).toBe(0);
    long.deposit(at(3_600_000));
    expect(long.available(at(3_600_000))).toBe(1);

    const short = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 7; i++) short.deposit(at());
    expect(short.available(at(9_999))).toBe(7);
    expect(short.available(at(10_000))).toBe(0);
  });

  it('a clock that goes back neither moves the window nor loses counts', () => {
    const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 4; i++) budget.deposit(at(5_000));
    budget.deposit(at());
    expect(budget.available(at(-60_000))).toBe(5);
    expect(budget.available(at(9_999))).toBe(5);
  });
});
