/**
 * ridethrough: ride out the stale-endpoint window after a Kubernetes pod moves, inside the process,
 * with no sidecar. See the README and docs/ for the guide.
 * @packageDocumentation
 */
export { ResilientAgent, type AgentOriginStats, type PoolCounters, type ResilientAgentOptions } from './http/agent.js';
export { resilience, type ResilienceInterceptor } from './http/interceptor.js';
export {
  createResilientFetch,
  resilientFetch,
  getDefaultAgent,
  type ResilientFetch,
  type ResilientFetchOptions,
  type ResilientRequestInit,
} from './http/fetch.js';
export { installGlobalDispatcher } from './http/global.js';
export {
  defaults,
  type BackoffOptions,
  type EjectionOptions,
  type HedgeOptions,
  type RequestOverrides,
  type ResolvedHedge,
  type ResolvedOptions,
  type ResilienceOptions,
  type SilentEndpointOptions,
} from './core/options.js';
export type { OriginStats, ResilienceContext } from './core/context.js';
export type { BreakerOptions, HalfOpenSamplingOptions } from './health/circuit-breaker.js';
export type { RetryBudgetOptions } from './health/retry-budget.js';
export type { EndpointStats } from './endpoints/endpoint.js';
export { DnsCache, type DnsAnswer, type ResolvedAddress } from './resolve/dns-cache.js';
export { dnsDefaults, type DnsOptions, type ResolvedDnsOptions } from './resolve/dns-options.js';
export type { DiscoveryListener, DiscoverySource, DiscoveryStatus, DiscoverySubscription, DiscoveryTarget } from './resolve/discovery.js';
export {
  AttemptsExhaustedError,
  BudgetExhaustedError,
  CircuitOpenError,
  DeadlineExceededError,
  DnsResolutionError,
  NoEndpointError,
  NotRetryableError,
  RidethroughError,
  type AttemptRecord,
  type RidethroughErrorCode,
  type RidethroughErrorOptions,
} from './errors/errors.js';
export {
  channelNames,
  type AttemptEvent,
  type BreakerEvent,
  type ChannelEvents,
  type EndpointEvent,
  type GiveUpEvent,
  type HedgeEvent,
  type ResolveEvent,
  type RetryEvent,
  type StaleEvent,
  type ReleaseEvent,
  type WaitEvent,
  type DiscoveryStateEvent,
  type DiscoveryUpdateEvent,
} from './events/channels.js';
// TCP: resilient connects and a DNS lookup for any Node client (src/tcp).
export {
  createResilientLookup,
  lookupSocket,
  resilientConnect,
  watchSocket,
  type ConnectReporter,
  type ContextSettings,
  type LookupCallback,
  type ResilientConnectOptions,
  type ResilientLookup,
  type ResilientLookupOptions,
} from './tcp/index.js';
