/**
 * `ridethrough-k8s`: ridethrough with the EndpointSlice resolver, watching the lab's Kubernetes API double.
 * @module
 */
import { createResilientFetch, ResilientAgent } from 'ridethrough';
import { kubernetesEndpoints } from 'ridethrough/kubernetes';
import { countRetries } from './attempt-counter.js';
import type { ClientDefinition, LabClient } from './types.js';

/** ridethrough's defaults plus `discovery: kubernetesEndpoints()`, pointed at the lab's API double. */
export const ridethroughK8sClient: ClientDefinition = {
  name: 'ridethrough-k8s',
  description:
    "ridethrough with its defaults and the EndpointSlice resolver (discovery: kubernetesEndpoints() from 'ridethrough/kubernetes'): endpoints come from a watch of the Service's EndpointSlices, ready ones get new requests, terminating ones none; DNS serves when the API cannot.",
  resolution:
    'The Kubernetes API double of the scenario (one list-then-watch of the Service), DNS (as ridethrough) when there is none. It names the Service inventory.<scenario>.svc (the search list cluster.local completes it for DNS), so its events are told apart from the ridethrough client.',
  async load() {
    return (env) => {
      const agent = new ResilientAgent({
        dns: { servers: [env.dnsServer], search: ['cluster.local'], ndots: 5 },
        ...(env.kubeApi === undefined ? {} : { discovery: kubernetesEndpoints({ apiServer: env.kubeApi.url, token: env.kubeApi.token }) }),
      });
      const fetch = createResilientFetch({ agent });
      const retries = countRetries((origin) => origin.includes('.svc:'));
      const client: LabClient = {
        async send(req) {
          const url = req.url.replace('.svc.cluster.local:', '.svc:');
          const res = await fetch(url, { method: req.method, headers: req.headers, body: req.body, signal: req.signal });
          await res.text();
          return { status: res.status, pod: res.headers.get('x-pod') ?? undefined };
        },
        retries: () => retries.count(),
        async close() {
          retries.stop();
          await agent.destroy().catch(() => {});
        },
      };
      return client;
    };
  },
};
