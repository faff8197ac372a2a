import type { Agent } from 'undici';
import { publish } from '../events/channels.js';
import type { DnsAnswer } from '../resolve/dns-cache.js';
import type { DiscoveryListener, DiscoveryStatus, DiscoverySubscription, DiscoveryTarget } from '../resolve/discovery.js';
import { type ApiCall, getJson, statusError, streamJsonLines } from './api.js';
import type { KubernetesConfig } from './config.js';
import { KubernetesApiError } from './errors.js';
import type { ServiceName } from './names.js';
import { type EndpointSlice, isEndpointSlice, mergeSlices, type PortRule, sameEndpoints, triggerTimeAnnotation } from './slices.js';

type WatchState = DiscoveryStatus['state'];

/** One origin listening to a Service's endpoints. */
interface Subscriber {
  readonly target: DiscoveryTarget;
  readonly rule: PortRule;
  readonly listener: DiscoveryListener;
  /** What the listener was last told (undefined: DNS). */
  last: DnsAnswer | undefined;
}

/**
 * The EndpointSlices of one Service, kept current by one list-then-watch loop shared by every origin
 * (of every agent in the process) that names the Service: list with the label
 * `kubernetes.io/service-name`, watch from the list's `resourceVersion` with bookmarks, reopen the watch
 * when the server ends it, relist on 410 Gone, reconnect with jittered backoff after a failure. It
 * stops when its last subscriber leaves.
 * @internal
 */
export class ServiceWatch {
  /** `Service ns/name`, for events and stats. */
  readonly resource: string;
  private readonly slices = new Map<string, EndpointSlice>();
  private readonly subscribers = new Set<Subscriber>();
  private resourceVersion: string | undefined;
  private state: WatchState = 'syncing';
  /** Whether subscribers get the slices' endpoints (synced, or within the grace after a break). */
  private vouching = false;
  private lagMs: number | undefined;
  private lastEventAt = 0;
  private error: string | undefined;
  private failures = 0;
  private gone = 0;
  private started = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private graceTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private readonly path: string;
  private readonly selector: string;

  /**
   * @param config - the source's settings
   * @param dispatcher - the undici dispatcher for the API calls
   * @param name - the Service
   * @param onIdle - called once the last subscriber left and the watch stopped
   */
  constructor(
    private readonly config: KubernetesConfig,
    private readonly dispatcher: Agent,
    private readonly name: ServiceName,
    private readonly onIdle: () => void,
  ) {
    this.resource = `Service ${name.namespace}/${name.service}`;
    this.path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(name.namespace)}/endpointslices`;
    this.selector = `kubernetes.io/service-name=${name.service}`;
  }

  /**
   * Adds an origin; the first starts the loop. Tells it the endpoints at once when they are known.
   * @param rule - how the origin's port maps onto slice ports (each source's own `portName`)
   */
  subscribe(target: DiscoveryTarget, rule: PortRule, listener: DiscoveryListener): DiscoverySubscription {
    const sub: Subscriber = { target, rule, listener, last: undefined };
    this.subscribers.add(sub);
    if (!this.started) {
      this.started = true;
      void this.run();
    } else {
      this.deliverTo(sub);
    }
    let closed = false;
    return {
      status: () => this.status(),
      close: () => {
        if (closed) return;
        closed = true;
        this.subscribers.delete(sub);
        if (this.subscribers.size === 0) this.stop();
      },
    };
  }

  /** The watch's state, for stats. */
  status(): DiscoveryStatus {
    return { source: 'kubernetes', state: this.state, resource: this.resource, lagMs: this.lagMs, lastEventAt: this.lastEventAt, error: this.state === 'synced' ? undefined : this.error };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        await this.watch();
        // The server ended the watch (its timeout): reopen at once from the last version.
        this.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        const e = err instanceof KubernetesApiError ? err : new KubernetesApiError(0, 'EUNKNOWN', String(err), { cause: err });
        if (e.status === 410) {
          // Our version left the server's history window: relist (at once the first time, then with backoff).
          this.resourceVersion = undefined;
          publish('discoveryState', () => ({ source: 'kubernetes', resource: this.resource, state: this.state, error: 'Gone', retryInMs: 0 }));
          if (this.gone++ === 0) continue;
        } else {
          this.failed(e);
        }
        await this.sleep(this.nextDelay(e));
      }
    }
  }

  private call(query: Record<string, string>, token: string | undefined, headersTimeout: number, bodyTimeout: number, signal: AbortSignal): ApiCall {
    return { server: this.config.apiServer!, dispatcher: this.dispatcher, token, path: this.path, query: { labelSelector: this.selector, ...query }, headersTimeout, bodyTimeout, signal };
  }

  private async list(): Promise<void> {
    const token = await this.config.token();
    const t = this.config.listTimeout;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(t)]);
    const body = (await getJson(this.call({}, token, t, t, signal), `listing the EndpointSlices of ${this.resource}`)) as { items?: unknown; metadata?: { resourceVersion?: unknown } } | null;
    const rv = body?.metadata?.resourceVersion;
    if (!Array.isArray(body?.items) || typeof rv !== 'string') throw new KubernetesApiError(200, 'BadList', `ridethrough: the EndpointSlice list of ${this.resource} has no items or resourceVersion`);
    if (this.stopped) return;
    this.slices.clear();
    for (const item of body.items) if (isEndpointSlice(item)) this.slices.set(item.metadata.name, item);
    this.resourceVersion = rv;
    this.lastEventAt = Date.now();
    this.gone = 0;
    this.synced();
    this.changed('list', undefined);
  }

  private async watch(): Promise<void> {
    const token = await this.config.token();
    const seconds = Math.max(1, Math.round(this.config.watchTimeoutSeconds * (0.9 + Math.random() * 0.2)));
    const query = { watch: '1', resourceVersion: this.resourceVersion!, allowWatchBookmarks: 'true', timeoutSeconds: String(seconds) };
    // The server ends the call after `seconds`; a connection silent for much longer than that is dead.
    const call = this.call(query, token, this.config.listTimeout, (seconds + 30) * 1000, this.abort.signal);
    await streamJsonLines(call, `watching the EndpointSlices of ${this.resource}`, () => this.synced(), (event) => this.onEvent(event));
  }

  private onEvent(event: unknown): void {
    if (this.stopped) return;
    const { type, object } = (event ?? {}) as { type?: unknown; object?: unknown };
    this.lastEventAt = Date.now();
    if (type === 'ERROR') {
      const status = (object ?? {}) as { code?: number; reason?: string; message?: string };
      throw statusError(typeof status.code === 'number' ? status.code : 500, status, `watching the EndpointSlices of ${this.resource}`);
    }
    const rv = (object as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
    if (typeof rv === 'string') this.resourceVersion = rv;
    if (type === 'BOOKMARK' || !isEndpointSlice(object)) return;
    this.gone = 0;
    if (type === 'ADDED' || type === 'MODIFIED') this.slices.set(object.metadata.name, object);
    else if (type === 'DELETED') this.slices.delete(object.metadata.name);
    else return;
    this.changed(type, object);
  }

  /** A complete view is at hand (listed, or a watch reopened from a known version). */
  private synced(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.failures = 0;
    const wasVouching = this.vouching;
    this.vouching = true;
    this.setState('synced', undefined, 0);
    if (!wasVouching) this.deliver();
  }

  private failed(e: KubernetesApiError): void {
    this.error = e.summary;
    const delay = this.peekDelay();
    if (this.vouching && this.graceTimer === undefined && this.state === 'synced') {
      this.setState('reconnecting', e.summary, delay);
      // A quick reconnect keeps the endpoints; a longer outage hands the host to DNS.
      this.graceTimer = setTimeout(() => this.degrade(), this.config.staleAfter);
      this.graceTimer.unref();
    } else if (!this.vouching) {
      this.setState('degraded', e.summary, delay);
    } else {
      publish('discoveryState', () => ({ source: 'kubernetes', resource: this.resource, state: this.state, error: e.summary, retryInMs: delay }));
    }
  }

  private degrade(): void {
    this.graceTimer = undefined;
    if (this.stopped) return;
    this.vouching = false;
    this.setState('degraded', this.error, 0);
    this.deliver();
  }

  private setState(state: WatchState, error: string | undefined, retryInMs: number): void {
    if (state === this.state && error === undefined) return;
    this.state = state;
    publish('discoveryState', () => ({ source: 'kubernetes', resource: this.resource, state, error, retryInMs }));
  }

  /** Publishes a change and tells every subscriber. */
  private changed(trigger: 'list' | 'ADDED' | 'MODIFIED' | 'DELETED', slice: EndpointSlice | undefined): void {
    const at = slice?.metadata.annotations?.[triggerTimeAnnotation];
    const parsed = at === undefined ? Number.NaN : Date.parse(at);
    if (!Number.isNaN(parsed)) this.lagMs = Math.max(0, Date.now() - parsed);
    publish('discoveryUpdate', () => {
      const all = mergeSlices(this.slices.values(), { requestPort: 0 }).addresses;
      return {
        source: 'kubernetes',
        resource: this.resource,
        trigger,
        ready: all.filter((a) => a.terminating !== true).map((a) => a.address),
        terminating: all.filter((a) => a.terminating === true).map((a) => a.address),
        lagMs: Number.isNaN(parsed) ? undefined : this.lagMs,
      };
    });
    this.deliver();
  }

  private deliver(): void {
    for (const sub of this.subscribers) this.deliverTo(sub);
  }

  private deliverTo(sub: Subscriber): void {
    const next = this.answerFor(sub);
    if (next === sub.last) return;
    sub.last = next;
    try {
      sub.listener(next);
    } catch {
      // A listener's failure is its own: the watch goes on for the others.
    }
  }

  /** The subscriber's answer now: undefined hands it to DNS (not vouching, no such Service, no port matches). */
  private answerFor(sub: Subscriber): DnsAnswer | undefined {
    if (!this.vouching || this.slices.size === 0) return undefined;
    const merged = mergeSlices(this.slices.values(), sub.rule);
    if (merged.addresses.length === 0 && merged.unmatched > 0) return undefined;
    const last = sub.last;
    if (last !== undefined && sameEndpoints(last.addresses, merged.addresses)) return last;
    return { hostname: sub.target.hostname, addresses: merged.addresses, source: 'discovery', fetchedAt: Date.now(), expiresAt: Infinity, stale: false };
  }

  private peekDelay(): number {
    const base = Math.min(this.config.reconnectMax, this.config.reconnectInitial * 2 ** Math.min(this.failures, 20));
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  /** Equal jitter, doubling: reconnects of many processes spread out and never go below half the step. */
  private nextDelay(e: KubernetesApiError): number {
    const delay = this.peekDelay();
    this.failures++;
    // A rejected token may just have rotated: the first retry comes soon, with the token file read again.
    return e.status === 401 && this.failures === 1 ? Math.min(delay, 100) : delay;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeSleep = undefined;
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.wakeSleep?.();
    this.vouching = false;
    this.setState('stopped', undefined, 0);
    this.onIdle();
  }
}
