/**
 * `ridethrough`: the library, through its public entry, with its defaults.
 * @module
 */
import { ResilientAgent, createResilientFetch } from 'ridethrough';
import { countRetries } from './attempt-counter.js';
import type { ClientDefinition, LabClient } from './types.js';

/** ridethrough's `createResilientFetch` over a `ResilientAgent`, defaults only. */
export const ridethroughClient: ClientDefinition = {
  name: 'ridethrough',
  description:
    'ridethrough with its defaults: createResilientFetch() over a ResilientAgent (10 s deadline, 1 s connect timeout, 5 s attempt timeout, jittered retries on another endpoint, per-IP pools and ejection; a POST that may have reached the server is never re-sent).',
  resolution:
    'Its own DNS cache (c-ares, record TTLs capped at 5 s, re-resolution when an address fails, last good answer served while DNS is down), given dns: { servers: [lab DNS], search: [] }.',
  async load() {
    return (env) => agentClient(new ResilientAgent({ dns: { servers: [env.dnsServer], search: [] } }), (origin) => origin.includes('.svc.cluster.local:'));
  },
};

/**
 * A lab client sending through `createResilientFetch` over `agent`, counting the retries whose origin
 * `mine` accepts (so each ridethrough client counts its own).
 * @param rewrite - the URL a request goes to, from the scenario's
 */
export function agentClient(agent: ResilientAgent, mine: (origin: string) => boolean, rewrite: (url: string) => string = (url) => url): LabClient {
  const fetch = createResilientFetch({ agent });
  const retries = countRetries(mine);
  return {
    async send(req) {
      const res = await fetch(rewrite(req.url), { method: req.method, headers: req.headers, body: req.body, signal: req.signal });
      await res.text();
      return { status: res.status, pod: res.headers.get('x-pod') ?? undefined };
    },
    retries: () => retries.count(),
    async close() {
      retries.stop();
      await agent.destroy().catch(() => {});
    },
  };
}
