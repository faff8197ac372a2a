/**
 * `got`: the got HTTP client with its retry and its DNS cache.
 * @module
 */
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import type { ClientDefinition, LabClient } from './types.js';
import { importOptional } from './types.js';

type GotModule = typeof import('got');

/** The parts of got's DNS cache (its `dnsCache` option) the lab uses. */
interface DnsCacheLike {
  lookup: unknown;
  clear(): void;
}
type DnsCacheClass = new (options: { resolver: Resolver; lookup: false }) => DnsCacheLike;

/** got with its default retry and its DNS cache with default settings. */
export const gotClient: ClientDefinition = {
  name: 'got',
  description:
    "got 16 with its defaults: retry limit 2 for GET/PUT/HEAD/DELETE/OPTIONS/TRACE/QUERY on ETIMEDOUT, ECONNRESET, ECONNREFUSED, EPIPE, ENOTFOUND, ENETUNREACH, EAI_AGAIN, ... after 1 s then 2 s (plus up to 100 ms noise); POST is not retried; no timeout; Node's keep-alive http.Agent (same settings as http.globalAgent).",
  resolution:
    "got's dnsCache option: its DNS cache with default settings (record TTL honoured, no upper bound; failed lookups cached 0.15 s), given a dns.promises.Resolver aimed at the lab DNS and with its fallback to the OS resolver turned off.",
  async load() {
    const got = await importOptional<GotModule>('got');
    if (!got) return { unavailable: 'got is not installed (it is a dependency of @ridethrough/lab: run npm install in the repository)' };
    // got does not export its DNS cache class; reach it through the instance `dnsCache: true` selects.
    const sample = new got.Options({ dnsCache: true }).dnsCache as unknown as DnsCacheLike | undefined;
    if (!sample) return { unavailable: 'got did not expose its DNS cache (unexpected got version)' };
    const DnsCache = sample.constructor as DnsCacheClass;
    return (env) => {
      const resolver = new Resolver();
      resolver.setServers([env.dnsServer]);
      const dnsCache = new DnsCache({ resolver, lookup: false });
      const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5_000 });
      const instance = got.default.extend({ dnsCache: dnsCache as never, agent: { http: agent } });
      const client: LabClient = {
        async send(req) {
          const res = await instance(req.url, { method: req.method, headers: req.headers, body: req.body, signal: req.signal });
          const pod = res.headers['x-pod'];
          return { status: res.statusCode, pod: Array.isArray(pod) ? pod[0] : pod };
        },
        async close() {
          resolver.cancel();
          dnsCache.clear();
          agent.destroy();
        },
      };
      return client;
    };
  },
};
