/**
 * `fetch`: Node's built-in fetch, with nothing added.
 * @module
 */
import { Agent, Dispatcher1Wrapper, type Dispatcher } from 'undici';
import { PodResolver } from '../resolver.js';
import type { ClientDefinition, LabClient } from './types.js';

/** Whether Node's bundled undici speaks the undici 8 dispatcher API (Node 26+). */
function bundledUndiciIsV8(): boolean {
  return Number((process.versions as { undici?: string }).undici?.split('.')[0] ?? 0) >= 8;
}

/** Node's built-in `fetch`: no retries, undici's defaults (10 s connect timeout, 300 s headers timeout). */
export const fetchClient: ClientDefinition = {
  name: 'fetch',
  description:
    "Node's built-in fetch (globalThis.fetch) with undici's default Agent settings: 10 s connect timeout, 300 s headers timeout, keep-alive, no retries.",
  resolution:
    'Like a pod: getaddrinfo on every new connection, no cache. The lab passes a dispatcher (an undici Agent whose connect.lookup asks the lab DNS like getaddrinfo: 5 s timeout, 2 attempts), wrapped in Dispatcher1Wrapper for the fetch bundled with Node 22/24.',
  async load() {
    return (env) => {
      const resolver = new PodResolver(env.dnsServer);
      const agent = new Agent({ connect: { lookup: resolver.lookup } });
      const dispatcher: Dispatcher = bundledUndiciIsV8() ? agent : new Dispatcher1Wrapper(agent);
      const client: LabClient = {
        async send(request) {
          const init = { method: request.method, headers: request.headers, body: request.body, signal: request.signal, dispatcher };
          // `dispatcher` is a Node extension of RequestInit, typed there with the bundled undici's types.
          const res = await globalThis.fetch(request.url, init as unknown as RequestInit);
          await res.text();
          return { status: res.status, pod: res.headers.get('x-pod') ?? undefined };
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
