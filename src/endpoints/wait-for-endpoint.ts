import type { EndpointSet } from './endpoint-set.js';
import type { Waiter } from './waiting-room.js';
import { monotonicNow } from '../timing/clock.js';

/**
 * Waits in the host's waiting room until an endpoint usable by this caller appears (one it has not
 * tried, or one that answered again), `maxWaitMs` passes, or `signal` aborts (then it rejects with the
 * signal's reason). The promise form of what the HTTP request flow does with callbacks, for callers
 * that await (TCP connects).
 * @param tried - addresses the caller already tried
 * @param last - the address that failed last
 */
export function waitForEndpoint(set: EndpointSet, tried: readonly string[], last: string | undefined, maxWaitMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason as unknown);
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      set.room.leave(waiter);
    };
    const waiter: Waiter = {
      wake() {
        if (set.pickUsable(tried, last, monotonicNow()) === undefined) {
          set.park(waiter);
          return;
        }
        done();
        resolve();
      },
    };
    const onAbort = (): void => {
      done();
      reject(signal.reason as unknown);
    };
    const timer = setTimeout(
      () => {
        done();
        resolve();
      },
      Math.max(0, maxWaitMs),
    );
    signal.addEventListener('abort', onAbort, { once: true });
    set.park(waiter);
  });
}
