/**
 * Endpoints straight from the Kubernetes API (EndpointSlices), opt-in, with DNS as the fallback:
 * `new ResilientAgent({ discovery: kubernetesEndpoints() })`. See docs/kubernetes.md.
 * @packageDocumentation
 */
import type { Agent } from 'undici';
import type { DiscoveryListener, DiscoverySource, DiscoverySubscription, DiscoveryTarget } from '../resolve/discovery.js';
import { apiDispatcher } from './api.js';
import { type KubernetesConfig, type KubernetesEndpointsOptions, resolveKubernetesConfig } from './config.js';
import { type ServiceName, serviceOf } from './names.js';
import type { PortRule } from './slices.js';
import { ServiceWatch } from './service-watch.js';

export type { KubernetesEndpointsOptions } from './config.js';
export { KubernetesApiError } from './errors.js';
export type { DiscoverySource, DiscoveryStatus, DiscoverySubscription, DiscoveryTarget, DiscoveryListener } from '../resolve/discovery.js';

/** The running watches of the process, one per API server, credentials and Service: shared by every agent. */
const watches = new Map<string, ServiceWatch>();
/** The API dispatchers, one per API server and CA, with the number of watches using each. */
const dispatchers = new Map<string, { agent: Agent; users: number }>();

/** The connect timeout of API calls: the API server is in-cluster, a second is plenty. */
const apiConnectTimeout = 2_000;

/**
 * A discovery source that reads a Service's endpoints from the Kubernetes EndpointSlice API (one
 * list-then-watch per Service, shared by every agent in the process, stopped when none needs it), for
 * host names `svc.ns.svc.cluster.local`, `svc.ns.svc`, `svc.ns` and `svc`. Ready endpoints get new
 * requests; terminating ones keep their requests in flight and get new ones only when nothing else is
 * left. Any other name, and any name while the API cannot be reached, is served by DNS.
 *
 * In a pod it needs no options (service account token and CA, `KUBERNETES_SERVICE_HOST`) and RBAC
 * `get`, `list`, `watch` on `endpointslices.discovery.k8s.io` (docs/kubernetes.md).
 *
 * @param options - API server, credentials, port mapping and timing; validated now (TypeError/RangeError naming the option)
 * @example
 * ```ts
 * import { ResilientAgent } from 'ridethrough';
 * import { kubernetesEndpoints } from 'ridethrough/kubernetes';
 * const agent = new ResilientAgent({ discovery: kubernetesEndpoints() });
 * ```
 */
export function kubernetesEndpoints(options: KubernetesEndpointsOptions = {}): DiscoverySource {
  const config = resolveKubernetesConfig(options);
  return {
    name: 'kubernetes',
    subscribe: (target: DiscoveryTarget, listener: DiscoveryListener): DiscoverySubscription | undefined => subscribe(config, target, listener),
  };
}

function subscribe(config: KubernetesConfig, target: DiscoveryTarget, listener: DiscoveryListener): DiscoverySubscription | undefined {
  if (config.apiServer === undefined) return undefined;
  const name = serviceOf(target.hostname, config.clusterDomain, config.namespace);
  if (name === undefined) return undefined;
  const key = `${config.apiServer.href}\0${config.credentialKey}\0${name.namespace}\0${name.service}`;
  let watch = watches.get(key);
  if (watch === undefined) {
    const dispatcherKey = `${config.apiServer.href}\0${String(config.ca ?? '')}`;
    let d = dispatchers.get(dispatcherKey);
    if (d === undefined) dispatchers.set(dispatcherKey, (d = { agent: apiDispatcher(config.ca, apiConnectTimeout), users: 0 }));
    d.users++;
    const entry = d;
    const created: ServiceWatch = new ServiceWatch(config, d.agent, name, () => {
      if (watches.get(key) === created) watches.delete(key);
      if (--entry.users === 0) {
        dispatchers.delete(dispatcherKey);
        entry.agent.destroy().catch(() => {});
      }
    });
    watch = created;
    watches.set(key, watch);
  }
  return watch.subscribe(target, portRule(config, name, target.port), listener);
}

/** The source's `portName` for the Service (keys `svc.ns` then `svc`), else the request's port. */
function portRule(config: KubernetesConfig, name: ServiceName, requestPort: number): PortRule {
  const p = config.portName;
  if (typeof p === 'string') return { name: p };
  const named = p?.[`${name.service}.${name.namespace}`] ?? p?.[name.service];
  return named === undefined ? { requestPort } : { name: named };
}
