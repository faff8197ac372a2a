/**
 * `ridethrough-k8s`: ridethrough with the EndpointSlice resolver, watching the lab's Kubernetes API double.
 * @module
 */
import { ResilientAgent } from 'ridethrough';
import { kubernetesEndpoints } from 'ridethrough/kubernetes';
import { agentClient } from './ridethrough.js';
import type { ClientDefinition } from './types.js';

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
      return agentClient(
        agent,
        (origin) => origin.includes('.svc:'),
        (url) => url.replace('.svc.cluster.local:', '.svc:'),
      );
    };
  },
};
