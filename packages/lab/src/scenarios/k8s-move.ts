/**
 * `k8s-move`: a pod moves; the Kubernetes API publishes it 0.2 s later, DNS 5 s later.
 * @module
 */
import type { LabPod } from '@ridethrough/testbed';
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** How long after the move the EndpointSlice shows it (the endpoint controller and the watch). */
export const apiLagMs = 200;
/** How long after the move DNS answers it (CoreDNS's cache and TTL). */
export const dnsLagMs = 5_000;

/** `k8s-move`: the move scenario with an EndpointSlice watch next to a lagging DNS. */
export const k8sMove: ScenarioDefinition = {
  name: 'k8s-move',
  title: 'A pod moves: the API publishes it in 0.2 s, DNS in 5 s',
  summary:
    'One replica moves to a new address. The EndpointSlice changes 0.2 s after the move (what the control plane publishes); DNS answers the new address only 5 s after it (CoreDNS cache and TTL). Clients that rely on DNS wait for DNS, or fail; ridethrough with the EndpointSlice resolver (ridethrough-k8s) follows the API.',
  method: 'GET',
  needsRoot: false,
  kubernetesApi: true,
  defaultDurationMs: 9_000,
  timing(d, host) {
    const { warm } = phases(d);
    return [
      at(0, `one pod, inventory-1, behind ${host} (A record, TTL ${recordTtl} s; EndpointSlice of Service inventory); traffic starts`),
      at(warm, 'inventory-1 stops (its address refuses connections); inventory-2 is up at a new address'),
      at(warm + apiLagMs, `the EndpointSlice lists inventory-2 (${seconds(apiLagMs)} after the move)`),
      at(warm + dnsLagMs, `DNS answers inventory-2 (${seconds(dnsLagMs)} after the move)`),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { warm } = phases(ctx.durationMs);
    const old = await ctx.startPod();
    ctx.publish([old]);
    ctx.publishEndpoints([{ target: old }]);
    // The later steps wait for the move itself: on a busy machine starting the new pod may take longer than the API lag.
    let moved: Promise<LabPod> | undefined;
    ctx.at(warm, { kind: 'pod', label: 'pod moved' }, async () => {
      moved = ctx.startPod();
      await moved;
      // stop() refuses new connections before its first await.
      const stopped = old.stop();
      ctx.lost(old);
      await stopped;
    });
    ctx.at(warm + apiLagMs, { kind: 'pod', label: 'API updated' }, async () => ctx.publishEndpoints([{ target: await moved! }]));
    ctx.at(warm + dnsLagMs, { kind: 'dns', label: 'DNS updated' }, async () => ctx.publish([await moved!]));
  },
};
