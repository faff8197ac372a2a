import pRetry from 'p-retry';
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
 * when the server ends it, relist on 410 Gone, reconnect with p-retry's jittered backoff after a failure. It
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
  private gone = 0;
  private tokenRetries = 0;
  private started = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private graceTimer: NodeJS.Timeout | undefined;
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
    return {
      source: 'kubernetes',
      state: this.state,
      resource: this.resource,
      lagMs: this.lagMs,
      lastEventAt: this.lastEventAt,
      error: this.state === 'synced' ? undefined : this.error,
    };
  }

  /**
   * The reconnect loop: p-retry runs sessions with its exponential, randomised delays
   * (`reconnect.initialDelay` → `maxDelay`), unref'd so a broken API never keeps the process alive, and
   * its `signal`, which stop() aborts. A session that ended well (the server closed the watch), or broke
   * after its watch was open, starts a fresh p-retry run: the next session goes at once.
   */
  private async run(): Promise<void> {
    const { reconnectInitial, reconnectMax } = this.config;
    while (!this.stopped) {
      try {
        await pRetry(() => this.session(), {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: reconnectInitial,
          maxTimeout: reconnectMax,
          factor: 2,
          randomize: true,
          unref: true,
          signal: this.abort.signal,
          // A relist after 410 Gone, and a retry after a rejected token (it may just have rotated), go at once the first time.
          shouldConsumeRetry: ({ error }) => !this.retryAtOnce(error as KubernetesApiError),
          onFailedAttempt: ({ error, retryDelay }) => this.failed(error as KubernetesApiError, retryDelay),
        });
      } catch {
        return; // stop() aborted the signal.
      }
    }
  }

  /** List when no version is known, then watch until the server ends the watch. */
  private async session(): Promise<void> {
    let opened = false;
    try {
      if (this.resourceVersion === undefined) await this.list();
      await this.watch(() => {
        opened = true;
      });
    } catch (err) {
      if (this.stopped) throw err;
      const e = err instanceof KubernetesApiError ? err : new KubernetesApiError(0, 'EUNKNOWN', String(err), { cause: err });
      // Our version left the server's history window: relist.
      if (e.status === 410) this.resourceVersion = undefined;
      if (!opened) throw e;
      // It broke after it was open: a new outage, whose first reconnect goes at once.
      this.failed(e, 0);
    }
  }

  private retryAtOnce(e: KubernetesApiError): boolean {
    if (e.status === 410) return this.gone++ === 0;
    if (e.status === 401) return this.tokenRetries++ === 0;
    return false;
  }

  private call(query: Record<string, string>, token: string | undefined, headersTimeout: number, bodyTimeout: number, signal: AbortSignal): ApiCall {
    return {
      server: this.config.apiServer!,
      dispatcher: this.dispatcher,
      token,
      path: this.path,
      query: { labelSelector: this.selector, ...query },
      headersTimeout,
      bodyTimeout,
      signal,
    };
  }

  private async list(): Promise<void> {
    const token = await this.config.token();
    const t = this.config.listTimeout;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(t)]);
    const body = (await getJson(this.call({}, token, t, t, signal), `listing the EndpointSlices of ${this.resource}`)) as {
      items?: unknown;
      metadata?: { resourceVersion?: unknown };
    } | null;
    const rv = body?.metadata?.resourceVersion;
    if (!Array.isArray(body?.items) || typeof rv !== 'string')
      throw new KubernetesApiError(200, 'BadList', `ridethrough: the EndpointSlice list of ${this.resource} has no items or resourceVersion`);
    if (this.stopped) return;
    this.slices.clear();
    for (const item of body.items) if (isEndpointSlice(item)) this.slices.set(item.metadata.name, item);
    this.resourceVersion = rv;
    this.lastEventAt = Date.now();
    this.gone = 0;
    this.synced();
    this.changed('list', undefined);
  }

  private async watch(onOpen: () => void): Promise<void> {
    const token = await this.config.token();
    const seconds = Math.max(1, Math.round(this.config.watchTimeoutSeconds * (0.9 + Math.random() * 0.2)));
    const query = { watch: '1', resourceVersion: this.resourceVersion!, allowWatchBookmarks: 'true', timeoutSeconds: String(seconds) };
    // The server ends the call after `seconds`; a connection silent for much longer than that is dead.
    const call = this.call(query, token, this.config.listTimeout, (seconds + 30) * 1000, this.abort.signal);
    await streamJsonLines(
      call,
      `watching the EndpointSlices of ${this.resource}`,
      () => {
        onOpen();
        this.synced();
      },
      (event) => this.onEvent(event),
    );
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
    this.tokenRetries = 0;
    const wasVouching = this.vouching;
    this.vouching = true;
    this.setState('synced', undefined, 0);
    if (!wasVouching) this.deliver();
  }

  /** @param delay - when the next session starts, in ms */
  private failed(e: KubernetesApiError, delay: number): void {
    if (e.status === 410) {
      publish('discoveryState', () => ({ source: 'kubernetes', resource: this.resource, state: this.state, error: 'Gone', retryInMs: delay }));
      return;
    }
    this.error = e.summary;
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

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.vouching = false;
    this.setState('stopped', undefined, 0);
    this.onIdle();
  }
}
