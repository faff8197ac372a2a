/**
 * `undici-interceptors`: undici 8's own answer to moved pods, its dns and retry interceptors.
 * @module
 */
import { Agent, interceptors, request } from 'undici';
import { PodResolver } from '../resolver.js';
import type { ClientDefinition, LabClient } from './types.js';

/** What the DNS interceptor's lookup hands back (its own default lookup leaves `ttl` out, and so does ours). */
type DnsRecords = interceptors.DNSInterceptorRecord[];

/** An undici Agent composed with `interceptors.dns()` and `interceptors.retry()`, both with their defaults. */
export const undiciInterceptorsClient: ClientDefinition = {
  name: 'undici-interceptors',
  description:
    'undici 8: new Agent().compose(interceptors.dns(), interceptors.retry()) with defaults, driven by undici.request(). retry is outermost: up to 5 retries of idempotent methods on ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, ... with backoff 0.5 s, 1 s, 2 s, ... (no jitter); POST is never retried.',
  resolution:
    "interceptors.dns({ lookup }) with a lookup that asks the lab DNS the way getaddrinfo would (no TTL returned), so the interceptor caches every answer for its maxTTL of 10 s whatever the record's TTL, and keeps failing addresses. The Agent's connect.lookup also asks the lab DNS.",
  async load() {
    return (env) => {
      const resolver = new PodResolver(env.dnsServer);
      const agent = new Agent({ connect: { lookup: resolver.lookup } });
      const dispatcher = agent.compose(
        interceptors.dns({
          lookup: (origin, _options, callback) => {
            resolver.resolve(origin.hostname).then(
              // getaddrinfo returns no TTL; neither does this lookup, like the interceptor's default one.
              (addresses) => callback(null, addresses.map((a) => ({ address: a.address, family: 4 })) as unknown as DnsRecords),
              (err: NodeJS.ErrnoException) => callback(err, []),
            );
          },
        }),
        interceptors.retry(),
      );
      const client: LabClient = {
        async send(req) {
          const res = await request(req.url, { method: req.method, headers: req.headers, body: req.body, signal: req.signal, dispatcher });
          await res.body.text();
          const pod = res.headers['x-pod'];
          return { status: res.statusCode, pod: Array.isArray(pod) ? pod[0] : pod };
        },
        async close() {
          resolver.close();
          await agent.destroy().catch(() => {});
        },
      };
      return client;
    };
  },
};
