import { LRUCache } from 'lru-cache';
import type { Endpoint, EndpointStats } from '../endpoints/endpoint.js';
import { EndpointSet } from '../endpoints/endpoint-set.js';
import { DnsCache } from '../resolve/dns-cache.js';
import { dnsDefaults } from '../resolve/dns-options.js';
import type { ParsedOrigin } from './origin.js';
import { type ResilienceOptions, type ResolvedOptions, resolveOptions } from './options.js';

/** Per-origin state, as {@link ResilientAgent.stats} reports it. */
export interface OriginStats {
  /** `protocol//host:port`. */
  readonly origin: string;
  /** The endpoints (resolved addresses) and their health. */
  readonly endpoints: readonly EndpointStats[];
}

/**
 * The state one agent (or interceptor, or TCP connector) keeps: validated options, the DNS cache and
 * the endpoints of each origin with their health. Pass one context to several users to share them.
 * @internal
 */
export class ResilienceContext {
  /** Validated options. */
  readonly options: ResolvedOptions;
  /** The DNS cache. */
  readonly dns: DnsCache;
  private readonly origins: LRUCache<string, EndpointSet>;
  private readonly removers = new Set<(endpoint: Endpoint) => void>();

  /**
   * @param options - user options; validated here
   */
  constructor(options: ResilienceOptions = {}) {
    this.options = resolveOptions(options);
    this.dns = new DnsCache(this.options.dns);
    this.origins = new LRUCache<string, EndpointSet>({
      max: this.options.dns.maxHosts ?? dnsDefaults.maxHosts,
      dispose: (set) => set.clear(),
    });
  }

  /** Registers a callback run when an endpoint leaves its DNS answer or its origin is evicted. */
  onEndpointRemoved(fn: (endpoint: Endpoint) => void): void {
    this.removers.add(fn);
  }

  /** The endpoint set of an origin, created on first use. */
  endpointsFor(origin: ParsedOrigin): EndpointSet {
    let set = this.origins.get(origin.key);
    if (!set) {
      set = new EndpointSet(origin.hostname, this.options, (e) => {
        for (const fn of this.removers) fn(e);
      });
      this.origins.set(origin.key, set);
    }
    return set;
  }

  /** A snapshot of every origin's endpoints. */
  stats(): OriginStats[] {
    const now = Date.now();
    return [...this.origins.entries()].map(([origin, set]) => ({
      origin,
      endpoints: [...set.endpoints.values()].map((e) => e.snapshot(now)),
    }));
  }

  /** Forgets all state; removal callbacks run for every endpoint. */
  close(): void {
    this.origins.clear();
    this.dns.close();
  }
}
