import diagnosticsChannel from 'node:diagnostics_channel';

/** Published when a failed attempt is going to be retried. */
export interface RetryEvent {
  /** The request origin (`http://host:port`). */
  readonly origin: string;
  /** HTTP method. */
  readonly method: string;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  /** The address that failed, if one was picked. */
  readonly address: string | undefined;
  /** Error code or `HTTP <status>` that caused the retry. */
  readonly reason: string;
  /** Delay before the next attempt, in milliseconds. */
  readonly delayMs: number;
}

/** Published when an attempt is sent to an endpoint: where each attempt of a request went. */
export interface AttemptEvent {
  /** The request origin (`http://host:port`). */
  readonly origin: string;
  /** HTTP method. */
  readonly method: string;
  /** The attempt (1-based). */
  readonly attempt: number;
  /** The endpoint IP address the attempt goes to. */
  readonly address: string;
  /** True for a hedged attempt (sent while another is still on its way). */
  readonly hedge: boolean;
}

/** Published when an endpoint address is marked bad (ejected) or restored. */
export interface EndpointEvent {
  /** Host name the address belongs to. */
  readonly hostname: string;
  /** The endpoint IP address. */
  readonly address: string;
  /** Why: an error code, `HTTP <status>`, or `restored`. */
  readonly reason: string;
  /** How long the address is ejected for, in milliseconds (0 when restored). */
  readonly ejectedForMs: number;
}

/** Published on every DNS resolution ridethrough performs. */
export interface ResolveEvent {
  /** Host name queried. */
  readonly hostname: string;
  /** Addresses of the answer (empty on failure). */
  readonly addresses: readonly string[];
  /** TTL applied to the cache entry, in seconds. */
  readonly ttlSeconds: number;
  /** Why the resolution ran: first use, expiry, an address failure, or an answer in use near the end of its TTL (`dns.prefetch`). */
  readonly trigger: 'miss' | 'expired' | 'failure' | 'prefetch';
  /** Error code when the resolution failed. */
  readonly error: string | undefined;
  /** How long the query took, in milliseconds. */
  readonly durationMs: number;
}

/** Published when DNS failed or is slow and the last good answer is served past its TTL. */
export interface StaleEvent {
  /** Host name. */
  readonly hostname: string;
  /** The addresses served from the stale answer. */
  readonly addresses: readonly string[];
  /** The DNS error that made the answer stale. */
  readonly error: string;
  /** Age of the served answer, in milliseconds. */
  readonly ageMs: number;
  /**
   * True when the answer is served because its refresh is slow (no reply within 100 ms; `error` is then
   * `ETIMEOUT`) and still running; absent when the refresh failed.
   */
  readonly refreshing?: boolean;
}

/** Published when ridethrough gives up on a request. */
export interface GiveUpEvent {
  /** The request origin. */
  readonly origin: string;
  /** HTTP method. */
  readonly method: string;
  /** The error code of the ridethrough error raised. */
  readonly code: string;
  /** Number of attempts made. */
  readonly attempts: number;
}

/** Published when a circuit breaker changes state. */
export interface BreakerEvent {
  /** The origin the breaker protects. */
  readonly origin: string;
  /** The new state. */
  readonly state: 'open' | 'half-open' | 'closed';
}

/** Published when a hedged attempt is sent. */
export interface HedgeEvent {
  /** The request origin. */
  readonly origin: string;
  /** HTTP method. */
  readonly method: string;
  /** The address of the hedged attempt. */
  readonly address: string | undefined;
  /** Delay after which the hedge was sent, in milliseconds. */
  readonly delayMs: number;
  /** Why: the `hedge` delay passed, or the endpoint of the attempt in flight was found silent or ejected. */
  readonly reason: 'delay' | 'endpoint-lost';
}

/** Published when a request finds no endpoint it can use now and parks in its host's waiting room. */
export interface WaitEvent {
  /** The request origin. */
  readonly origin: string;
  /** HTTP method (`CONNECT` for TCP connects). */
  readonly method: string;
  /** Attempts made so far. */
  readonly attempts: number;
  /** Longest the request waits before probing the least bad endpoint, in milliseconds. */
  readonly maxWaitMs: number;
}

/** Published when requests parked in a host's waiting room are released. */
export interface ReleaseEvent {
  /** The host name. */
  readonly hostname: string;
  /** How many parked requests were released. */
  readonly waiters: number;
  /** What made an endpoint usable: a DNS answer with new addresses, an endpoint that answered again, or an ejection that ended. */
  readonly reason: 'dns' | 'restored' | 'ejection-ended';
}

/** Published when a discovery source's watch changes state (e.g. the Kubernetes EndpointSlice watch of a Service). */
export interface DiscoveryStateEvent {
  /** The source's name (`kubernetes`). */
  readonly source: string;
  /** What is watched (`Service shop/inventory`). */
  readonly resource: string;
  /** The new state: see `DiscoveryStatus.state`. */
  readonly state: 'syncing' | 'synced' | 'reconnecting' | 'degraded' | 'stopped';
  /** Why, when the watch failed: an error code, `HTTP <status>` or `Gone` (410: relisting). */
  readonly error: string | undefined;
  /** The delay before the next connection attempt, in ms (0 when none is planned). */
  readonly retryInMs: number;
}

/** Published when a discovery source's endpoints of a watched resource change. */
export interface DiscoveryUpdateEvent {
  /** The source's name (`kubernetes`). */
  readonly source: string;
  /** What is watched (`Service shop/inventory`). */
  readonly resource: string;
  /** What brought the change: a full listing, or a watch event (`ADDED`, `MODIFIED`, `DELETED`). */
  readonly trigger: 'list' | 'ADDED' | 'MODIFIED' | 'DELETED';
  /** Addresses that take new requests (ready). */
  readonly ready: readonly string[];
  /** Addresses that are terminating but still serving (requests in flight only, unless nothing else is left). */
  readonly terminating: readonly string[];
  /** Time from the change's trigger (the source's own timestamp) to its receipt, in ms, when the source gives one. */
  readonly lagMs: number | undefined;
}

/**
 * The `node:diagnostics_channel` channel names ridethrough publishes on.
 * Subscribe with `diagnostics_channel.subscribe(channels.retry, fn)`.
 */
export const channelNames = {
  /** {@link AttemptEvent}: an attempt was sent to an endpoint. */
  attempt: 'ridethrough:attempt',
  /** {@link RetryEvent}: a failed attempt will be retried. */
  retry: 'ridethrough:retry',
  /** {@link EndpointEvent}: an address was ejected. */
  endpointEjected: 'ridethrough:endpoint:ejected',
  /** {@link EndpointEvent}: an ejected address was restored. */
  endpointRestored: 'ridethrough:endpoint:restored',
  /** {@link ResolveEvent}: a DNS resolution finished. */
  resolve: 'ridethrough:dns:resolve',
  /** {@link StaleEvent}: DNS failed or is slow, the last good answer is served past its TTL. */
  stale: 'ridethrough:dns:stale',
  /** {@link GiveUpEvent}: the overall deadline was hit. */
  deadline: 'ridethrough:deadline',
  /** {@link GiveUpEvent}: ridethrough gave up on a request (any reason). */
  giveUp: 'ridethrough:giveup',
  /** {@link BreakerEvent}: a breaker changed state. */
  breaker: 'ridethrough:breaker',
  /** {@link HedgeEvent}: a hedged attempt was sent. */
  hedge: 'ridethrough:hedge',
  /** {@link WaitEvent}: a request parked until an endpoint becomes usable. */
  wait: 'ridethrough:wait',
  /** {@link ReleaseEvent}: parked requests were released. */
  release: 'ridethrough:release',
  /** {@link DiscoveryStateEvent}: a discovery watch changed state. */
  discoveryState: 'ridethrough:discovery:state',
  /** {@link DiscoveryUpdateEvent}: a discovery watch's endpoints changed. */
  discoveryUpdate: 'ridethrough:discovery:update',
} as const;

/** Map from channel key to the event type published on it. */
export interface ChannelEvents {
  attempt: AttemptEvent;
  retry: RetryEvent;
  endpointEjected: EndpointEvent;
  endpointRestored: EndpointEvent;
  resolve: ResolveEvent;
  stale: StaleEvent;
  deadline: GiveUpEvent;
  giveUp: GiveUpEvent;
  breaker: BreakerEvent;
  hedge: HedgeEvent;
  wait: WaitEvent;
  release: ReleaseEvent;
  discoveryState: DiscoveryStateEvent;
  discoveryUpdate: DiscoveryUpdateEvent;
}

const channelObjects = Object.fromEntries(Object.entries(channelNames).map(([key, name]) => [key, diagnosticsChannel.channel(name)])) as Record<
  keyof ChannelEvents,
  diagnosticsChannel.Channel
>;

/**
 * Publishes an event when anyone listens; costs one property read otherwise.
 * @internal
 */
export function publish<K extends keyof ChannelEvents>(key: K, build: () => ChannelEvents[K]): void {
  const channel = channelObjects[key];
  if (channel.hasSubscribers) channel.publish(build());
}

/**
 * Whether anyone listens on a channel: on the hot path, check this before making the event's closure.
 * @internal
 */
export function subscribed(key: keyof ChannelEvents): boolean {
  return channelObjects[key].hasSubscribers;
}
