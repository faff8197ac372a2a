import type { Dispatcher } from 'undici';
import { setGlobalDispatcher } from 'undici';

const legacyKey = Symbol.for('undici.globalDispatcher.1');
const currentKey = Symbol.for('undici.globalDispatcher.2');

/**
 * Makes `dispatcher` the process-wide dispatcher for Node's built-in `fetch` on every supported Node line
 * (Node 22 and 24 read `Symbol.for('undici.globalDispatcher.1')`, Node 26 and undici 8 read `.2`) and for
 * undici's own `request()`/`fetch()`. ridethrough's dispatchers accept both handler shapes, so unlike
 * undici's `setGlobalDispatcher` no wrapper is put in between. Returns a function that restores the
 * previous dispatchers.
 *
 * @example
 * ```ts
 * import { ResilientAgent, installGlobalDispatcher } from 'ridethrough';
 * installGlobalDispatcher(new ResilientAgent());
 * await fetch('http://catalog:8080/items'); // built-in fetch, now resilient
 * ```
 */
export function installGlobalDispatcher(dispatcher: Dispatcher): () => void {
  const g = globalThis as Record<symbol, unknown>;
  const previous = { legacy: g[legacyKey], current: g[currentKey] };
  setGlobalDispatcher(dispatcher);
  Object.defineProperty(globalThis, legacyKey, { value: dispatcher, writable: true, enumerable: false, configurable: false });
  return () => {
    if (previous.current) setGlobalDispatcher(previous.current as Dispatcher);
    Object.defineProperty(globalThis, legacyKey, { value: previous.legacy, writable: true, enumerable: false, configurable: false });
  };
}
