import type { DnsAnswer } from '../resolve/dns-cache.js';
import type { EndpointSet } from './endpoint-set.js';

/** Where a host's addresses come from: the DNS cache. @internal */
export interface AnswerSource {
  /** The current answer, from the cache or a query (rejects with `DnsResolutionError`). */
  resolve(hostname: string): Promise<DnsAnswer>;
  /** The query in flight for `hostname` (a refresh after a failure), if any. */
  pending(hostname: string): Promise<DnsAnswer> | undefined;
}

/**
 * The selection's first steps for callers that await (TCP connects, the lookup): resolve the host,
 * reconcile its endpoint set with the answer, and when `stuck` says the set has nothing left to offer,
 * wait for the fresh answer already on its way (a failure triggered it) before the caller picks. The
 * HTTP request flow takes the same steps with callbacks, to keep its hot path synchronous.
 * @param stuck - whether the caller has nowhere to go with the current endpoints
 * @param signal - rejects with its reason when it aborts
 * @internal
 */
export async function currentEndpoints(source: AnswerSource, set: EndpointSet, stuck: () => boolean, signal?: AbortSignal): Promise<void> {
  // Under a discovery source the set is current (the source pushes its changes): no DNS answer to wait for.
  if (set.governed) return;
  set.update(await abortable(source.resolve(set.hostname), signal));
  const pending = source.pending(set.hostname);
  if (pending === undefined || !stuck()) return;
  try {
    set.update(await abortable(pending, signal));
  } catch (err) {
    if (signal?.aborted) throw err;
    // DNS failed: the (stale) answer above stays in use.
  }
}

/**
 * Awaits `promise`, but rejects with the signal's reason as soon as the signal aborts.
 * @internal
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    // Nobody waits for it any more: its failure must not become an unhandled rejection.
    promise.catch(noop);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as unknown);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function noop(): void {}
