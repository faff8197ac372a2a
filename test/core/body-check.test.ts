/**
 * How often a response body is checked for idleness: the body timeout then fires at most one interval
 * late (the mechanism itself is test/core/body-timeout.test.ts, on real servers).
 */
import { describe, expect, it } from 'vitest';
import { bodyCheckInterval } from '../../src/http/attempt.js';

describe('bodyCheckInterval', () => {
  it('is an eighth of the body timeout, at most a second and at least a millisecond', () => {
    expect(bodyCheckInterval(200)).toBe(25);
    expect(bodyCheckInterval(4_000)).toBe(500);
    expect(bodyCheckInterval(30_000)).toBe(1_000);
    expect(bodyCheckInterval(3_600_000)).toBe(1_000);
    expect(bodyCheckInterval(1)).toBe(1);
    expect(bodyCheckInterval(3)).toBe(1);
  });
});
