/**
 * The fakes ridethrough's tests, benchmarks, examples and lab share: a UDP DNS server with fault
 * modes, HTTP pods on loopback addresses, iptables blackholes, kube-proxy-style NAT and a Kubernetes API server double (EndpointSlices).
 * @module
 */
export { DnsServer, type DnsQueryLogEntry, type DnsRecords, type DnsServerMode, type DnsServerOptions } from './dns-server.js';
export { LoopbackServer } from './loopback-server.js';
export { answerOk, Pod, type PodBehaviour, type PodRequest, startPod } from './pods.js';
export { clientHeader, ExecutionLedger, LabPod, type LabPodOptions, type LabPodSummary, podHeader, type PodMode, requestIdHeader } from './lab-pod.js';
export { IptablesChain, iptables, iptablesAsync, iptablesOk, iptablesProblem, iptablesUnavailableReason } from './iptables.js';
export { NatChain } from './nat.js';
export {
  type KubeApiFault,
  type KubeApiRequest,
  KubeApiServer,
  type KubeApiServerOptions,
  type KubeEndpointSlice,
  type KubeEndpointSpec,
  type KubePortSpec,
  type KubeSliceSpec,
} from './kube-api.js';
