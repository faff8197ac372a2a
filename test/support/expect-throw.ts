import { expect } from 'vitest';

/** An error class an option check throws. */
export type ErrorClass = typeof TypeError | typeof RangeError;

/**
 * Runs `fn` and checks it throws `Class` exactly (not a subclass) with a message that equals each string
 * pattern or matches each regular expression.
 */
export function expectThrow(fn: () => unknown, Class: ErrorClass, ...patterns: (string | RegExp)[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(Class);
  expect((caught as Error).constructor).toBe(Class);
  for (const p of patterns) {
    if (typeof p === 'string') expect((caught as Error).message).toBe(p);
    else expect((caught as Error).message).toMatch(p);
  }
}
