/**
 * The retry budget's sliding window on its own, with the clock passed in: what a deposit buys, when
 * requests and retries leave the window, the floor, and jumps of the clock.
 * (The end-to-end budget tests against real servers are in budget.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/health/retry-budget.js';

const t0 = 1_700_000_000_000;

/** Takes retries until the budget refuses; returns how many it granted. */
function drain(budget: RetryBudget, now: number): number {
  let granted = 0;
  while (budget.tryWithdraw(now)) granted++;
  return granted;
}

describe('RetryBudget', () => {
  it('grants ratio × requests in the window plus the floor, then refuses and counts refusals', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 100; i++) budget.deposit(t0 + i);
    expect(budget.available(t0 + 100)).toBe(20);
    expect(drain(budget, t0 + 100)).toBe(20);
    expect(budget.available(t0 + 100)).toBe(0);
    expect(budget.refused).toBe(1);
    expect(budget.tryWithdraw(t0 + 101)).toBe(false);
    expect(budget.refused).toBe(2);
  });

  it('the floor alone allows minPerSecond × window retries with no traffic at all', () => {
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3, window: 10_000 });
    expect(drain(budget, t0)).toBe(30);
  });

  it('requests count for one window: they leave it bucket by bucket (tenths of the window)', () => {
    const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    budget.deposit(t0); // opens the first bucket, [t0, t0 + 1000)
    for (let i = 0; i < 9; i++) budget.deposit(t0 + 500);
    for (let i = 0; i < 10; i++) budget.deposit(t0 + 4_500); // bucket [t0 + 4000, t0 + 5000)
    expect(budget.available(t0 + 9_999)).toBe(20);
    // The first bucket leaves the window when the eleventh bucket opens.
    expect(budget.available(t0 + 10_000)).toBe(10);
    // The second one, [t0 + 4000, t0 + 5000), when the bucket opening at t0 + 14000 does.
    expect(budget.available(t0 + 13_999)).toBe(10);
    expect(budget.available(t0 + 14_000)).toBe(0);
  });

  it('retries leave the window with their requests, so fresh traffic buys fresh retries', () => {
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000 });
    for (let i = 0; i < 10; i++) budget.deposit(t0);
    expect(drain(budget, t0 + 50)).toBe(5);
    // 20 requests in the window buy 10 retries, 5 of them spent already.
    for (let i = 0; i < 10; i++) budget.deposit(t0 + 600);
    expect(drain(budget, t0 + 600)).toBe(5);
    // The first bucket (10 requests, 5 retries) has left the window; the second (10, 5) is still in it.
    expect(budget.available(t0 + 1_000)).toBe(0);
    // Both have left: new requests are not charged for their retries.
    for (let i = 0; i < 10; i++) budget.deposit(t0 + 1_700);
    expect(drain(budget, t0 + 1_700)).toBe(5);
  });

  it('a clock jump past the whole window forgets everything; one just short of it keeps the oldest bucket', () => {
    const long = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 7; i++) long.deposit(t0);
    long.tryWithdraw(t0);
    expect(long.available(t0 + 3_600_000)).toBe(0);
    long.deposit(t0 + 3_600_000);
    expect(long.available(t0 + 3_600_000)).toBe(1);

    const short = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 7; i++) short.deposit(t0);
    expect(short.available(t0 + 9_999)).toBe(7);
    expect(short.available(t0 + 10_000)).toBe(0);
  });

  it('a clock that goes back neither moves the window nor loses counts', () => {
    const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 10_000 });
    for (let i = 0; i < 4; i++) budget.deposit(t0 + 5_000);
    budget.deposit(t0);
    expect(budget.available(t0 - 60_000)).toBe(5);
    expect(budget.available(t0 + 9_999)).toBe(5);
  });
});
