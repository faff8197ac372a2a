import type { DnsAnswer } from './dns-cache.js';

/**
 * What a discovery source is asked about: one origin's host and port. A source that serves the host
 * answers with the endpoints for that port (their own port may differ: a Service's targetPort).
 */
export interface DiscoveryTarget {
  /** The host name, lower case, without a trailing dot. */
  readonly hostname: string;
  /** The port the caller asked for (the origin's port, the default port filled in). */
  readonly port: number;
  /** `http:`, `https:` or `tcp:`. */
  readonly protocol: string;
}

/**
 * Receives a watched host's endpoints: an answer whose `source` is `'discovery'` (its addresses may be
 * empty: nothing is serving now), or `undefined` when the source cannot vouch for the host any more
 * (the API is unreachable, the name is no Service): DNS takes over until the next answer.
 */
export type DiscoveryListener = (answer: DnsAnswer | undefined) => void;

/** How a discovery source's watch of a host is doing, as stats report it. */
export interface DiscoveryStatus {
  /** The source's name (`kubernetes`). */
  readonly source: string;
  /**
   * `syncing` before the first complete listing; `synced` while the watch runs; `reconnecting` after it
   * broke (the last answer is kept for a short grace); `degraded` while DNS serves the host instead;
   * `stopped` once nothing needs the watch.
   */
  readonly state: 'syncing' | 'synced' | 'reconnecting' | 'degraded' | 'stopped';
  /** What the source watches for this host (`Service shop/inventory`). */
  readonly resource: string;
  /** Time from the last change's trigger (as the source reports it) to its receipt here, in ms; undefined before any. */
  readonly lagMs: number | undefined;
  /** When the watch last heard from its server (an event or a bookmark), epoch ms; 0 before. */
  readonly lastEventAt: number;
  /** Why the source last failed (an error code or `HTTP <status>`), while it is not synced. */
  readonly error: string | undefined;
}

/** A host watched for one origin; close it when the origin is forgotten. */
export interface DiscoverySubscription {
  /** The watch's state now. */
  status(): DiscoveryStatus;
  /** Stops listening (the source stops its watch once no subscription needs it). Idempotent. */
  close(): void;
}

/**
 * A source of endpoints other than DNS, for the `discovery` option (for example `kubernetesEndpoints()`
 * from `ridethrough/kubernetes`). Its answers flow through the same endpoint reconciliation as DNS
 * answers, so ejection, the waiting room and pool draining work unchanged.
 */
export interface DiscoverySource {
  /** A short name for stats and events (`kubernetes`). */
  readonly name: string;
  /**
   * Starts (or joins) the watch of a host, or returns `undefined` when the source does not serve this
   * host (DNS serves it). The listener may be called synchronously with a known answer. Never throws.
   */
  subscribe(target: DiscoveryTarget, listener: DiscoveryListener): DiscoverySubscription | undefined;
}

/** Whether `value` looks like a {@link DiscoverySource}. @internal */
export function isDiscoverySource(value: unknown): value is DiscoverySource {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as DiscoverySource).name === 'string' &&
    typeof (value as DiscoverySource).subscribe === 'function'
  );
}
