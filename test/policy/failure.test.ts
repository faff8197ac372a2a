/** How a failed attempt is classified: undici's own errors, no sockets. */
import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { classifyError, dispatcherGone } from '../../src/policy/failure.js';

const closed = new errors.ClientClosedError();
const destroyed = new errors.ClientDestroyedError();
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('dispatcherGone', () => {
  it('a destroyed dispatcher is gone, whoever carried the attempt', () => {
    expect(dispatcherGone(destroyed, 'composed')).toBe(true);
    expect(dispatcherGone(destroyed, 'pool')).toBe(true);
  });

  it('a closed one is gone when it is the dispatcher the interceptor is composed on, not when it is one of the agent’s pools (a retired pool is replaced)', () => {
    expect(dispatcherGone(closed, 'composed')).toBe(true);
    expect(dispatcherGone(closed, 'pool')).toBe(false);
  });

  it('finds the code under a cause, as errorCode does; other failures are not about the dispatcher', () => {
    expect(dispatcherGone(new Error('wrapped', { cause: closed }), 'composed')).toBe(true);
    expect(dispatcherGone(refused, 'composed')).toBe(false);
    expect(dispatcherGone(new Error('no code'), 'composed')).toBe(false);
  });
});

describe('classifyError', () => {
  it('through the interceptor, a closed or destroyed downstream dispatcher is fatal (no retry can help), sent or not', () => {
    for (const started of [false, true]) {
      expect(classifyError(closed, started, 'composed')).toBe('fatal');
      expect(classifyError(destroyed, started, 'composed')).toBe('fatal');
    }
  });

  it('on the agent’s own pools, UND_ERR_CLOSED stays retryable (never sent before the pool took it), UND_ERR_DESTROYED fatal', () => {
    expect(classifyError(closed, false, 'pool')).toBe('unsent');
    expect(classifyError(closed, true, 'pool')).toBe('maybe-sent');
    expect(classifyError(destroyed, false, 'pool')).toBe('fatal');
    // The agent's pools are the default.
    expect(classifyError(closed, false)).toBe('unsent');
  });

  it('network failures are classified alike for both carriers', () => {
    for (const carrier of ['pool', 'composed'] as const) {
      expect(classifyError(refused, true, carrier)).toBe('unsent');
      expect(classifyError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), true, carrier)).toBe('maybe-sent');
      expect(classifyError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), false, carrier)).toBe('unsent');
      expect(classifyError(new errors.InvalidArgumentError('bad'), false, carrier)).toBe('fatal');
    }
  });
});
