import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type Socket } from 'node:net';
import { ResilienceContext } from '../core/context.js';
import type { EndpointSet } from '../endpoints/endpoint-set.js';
import { currentEndpoints } from '../endpoints/selection.js';
import type { ResolvedAddress } from '../resolve/dns-cache.js';
import { checkKnownKeys, checkObject } from '../utils/validate.js';
import { type LookupRequest, parseLookupArgs } from './lookup-args.js';
import { lookupError } from './lookup-error.js';
import { type ContextSettings, sharedContext } from './shared-context.js';
import { tcpOrigin } from './tcp-origin.js';
import { watchSocket } from './watch-socket.js';
import { monotonicNow } from '../timing/clock.js';

/** The callback of a Node `lookup` function (`net.LookupFunction`). */
export type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** Options of {@link createResilientLookup}: the DNS, ejection and backoff settings of its context. */
export type ResilientLookupOptions = ContextSettings;

/**
 * A Node `lookup` function (the signature of `dns.lookup` and `net.LookupFunction`) backed by ridethrough's
 * DNS cache and endpoint health, plus ways to tell it which addresses fail.
 */
export interface ResilientLookup {
  /** Resolves `hostname`: `callback(null, address, family)`, or `callback(null, [{ address, family }])` with `all: true`. */
  (hostname: string, options: number | LookupOptions | undefined, callback: LookupCallback): void;
  /** Resolves `hostname` to one address of either family. */
  (hostname: string, callback: LookupCallback): void;
  /**
   * Marks `address` of `hostname` as failing to connect: it leaves the rotation for the ejection time
   * (unless every address is failing) and the host is re-resolved at once (rate-limited).
   * @param code - the error code, for events (default `ECONNREFUSED`)
   */
  reportFailure(hostname: string, address: string, code?: string): void;
  /** Marks `address` of `hostname` as working again (clears its failure streak, ends an ejection). */
  reportSuccess(hostname: string, address: string): void;
  /**
   * Reports this socket's connect failures (and its success) for `hostname` automatically; see
   * {@link watchSocket}. Returns the socket.
   */
  watchSocket<S extends Socket>(socket: S, hostname: string): S;
  /** The context: DNS cache and endpoint health. */
  readonly context: ResilienceContext;
}

const contextKeys = ['dns', 'ejection', 'backoff'] as const;

/**
 * Creates a Node `lookup` function for `net.connect`, `tls.connect`, `http.Agent` and any driver that
 * accepts one. It answers from ridethrough's DNS cache (record TTLs, stale answers while DNS is down,
 * re-resolution when an address fails) and rotates over the healthy addresses so new connections
 * spread; addresses reported failing go last (`all: true`) or are skipped while others exist.
 * Honours `family` (4/6), `all` and `order`; errors have Node's shape (`ENOTFOUND`/`EAI_AGAIN`,
 * `syscall: 'getaddrinfo'`, `hostname`).
 *
 * @param options - `dns`, `ejection`, `backoff` settings (validated now: `TypeError`/`RangeError` naming the option)
 * @param context - share an agent's DNS cache instead; without one, lookups and connects with equal
 * settings share a process-wide context
 *
 * @example
 * ```ts
 * const lookup = createResilientLookup();
 * const socket = lookup.watchSocket(net.connect({ host: 'db.shop.svc.cluster.local', port: 5432, lookup }), 'db.shop.svc.cluster.local');
 * ```
 */
export function createResilientLookup(options: ResilientLookupOptions = {}, context?: ResilienceContext): ResilientLookup {
  checkObject('options', options);
  checkKnownKeys('', options, contextKeys);
  if (context !== undefined) {
    if (!(context instanceof ResilienceContext)) throw new TypeError('ridethrough: createResilientLookup() context must be a ResilienceContext');
    for (const key of contextKeys) {
      if (options[key] !== undefined)
        throw new TypeError(`ridethrough: option "${key}" cannot be combined with a context; set it on the context (or agent) instead`);
    }
  }
  const ctx = context ?? sharedContext(options);

  const endpointsOf = (hostname: string): EndpointSet => ctx.endpointsFor(tcpOrigin(hostname.toLowerCase()));

  const resolve = async (hostname: string, req: LookupRequest): Promise<ResolvedAddress[]> => {
    const set = endpointsOf(hostname);
    // Every address failing and a fresh answer on its way: wait for it.
    await currentEndpoints(ctx.dns, set, () => set.allEjected(req.family, monotonicNow()));
    const ordered = set.ordered(req.family, monotonicNow());
    if (req.order === 'verbatim') return ordered;
    const first = req.order === 'ipv4first' ? 4 : 6;
    return [...ordered.filter((a) => a.family === first), ...ordered.filter((a) => a.family !== first)];
  };

  const lookup = function lookup(
    hostname: string,
    optionsOrCallback: number | LookupOptions | undefined | LookupCallback,
    maybeCallback?: LookupCallback,
  ): void {
    const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback;
    if (typeof callback !== 'function') throw new TypeError('ridethrough: lookup() needs a callback function');
    if (typeof hostname !== 'string') throw new TypeError(`ridethrough: lookup() hostname must be a string, got ${typeof hostname}`);
    const req = parseLookupArgs(typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback);
    const literal = isIP(hostname);
    if (literal !== 0 || hostname.length === 0) {
      // Like dns.lookup: an IP literal is answered as is, whatever the family asked.
      process.nextTick(() => {
        if (literal === 0) callback(lookupError(hostname), '');
        else if (req.all) callback(null, [{ address: hostname, family: literal }]);
        else callback(null, hostname, literal);
      });
      return;
    }
    resolve(hostname, req).then(
      (addresses) => {
        process.nextTick(() => {
          const first = addresses[0];
          if (!first) callback(lookupError(hostname), '');
          else if (req.all)
            callback(
              null,
              addresses.map((a) => ({ address: a.address, family: a.family })),
            );
          else callback(null, first.address, first.family);
        });
      },
      (err: unknown) => {
        process.nextTick(() => callback(lookupError(hostname, err), ''));
      },
    );
  } as ResilientLookup;

  const api: ResilientLookup = Object.assign(lookup, {
    reportFailure(hostname: string, address: string, code = 'ECONNREFUSED'): void {
      const set = endpointsOf(hostname);
      const endpoint = set.endpoints.get(address);
      if (endpoint) set.failed(endpoint, 'connect', code, monotonicNow());
      ctx.dns.reportFailure(hostname);
    },
    reportSuccess(hostname: string, address: string): void {
      const set = endpointsOf(hostname);
      const endpoint = set.endpoints.get(address);
      if (endpoint) set.succeeded(endpoint);
    },
    watchSocket<S extends Socket>(socket: S, hostname: string): S {
      return watchSocket(socket, hostname, api);
    },
    context: ctx,
  });
  return api;
}
