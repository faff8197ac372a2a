import { publish } from '../events/channels.js';
import { isSilent } from '../policy/decisions.js';
import type { DnsAnswer, ResolvedAddress } from '../resolve/dns-cache.js';
import { Balancer, type BalancerKind } from './balancer.js';
import { Endpoint, type InFlightAttempt } from './endpoint.js';
import { type EjectionOptions, ejectionDuration, lessBad, mayEjectAnother } from './ejection.js';
import { type Waiter, WaitingRoom } from './waiting-room.js';
import { epochNow, longAgo, type MonotonicMs, monotonicNow, never, plus } from '../timing/clock.js';

export type { EjectionOptions } from './ejection.js';

/** What an endpoint set needs of the options. @internal */
export interface EndpointSetSettings {
  readonly ejection: Required<EjectionOptions>;
  readonly balancer: BalancerKind;
  /** The re-query cadence while requests wait for an endpoint, in ms. */
  readonly reResolveWhileWaiting: number;
}

/** Why an endpoint is reported as failed. @internal */
export type EndpointFailure =
  /** Could not connect: the address is marked bad at once. */
  | 'connect'
  /** A timeout or a retryable status: ejected after `consecutiveFailures` in a row, within `maxPercent`. */
  | 'outlier'
  /** A reset on a reused connection and similar: counted, never ejects by itself. */
  | 'soft';

/**
 * The endpoints (resolved addresses) of one host, their health, and the choice of where the next
 * attempt goes: healthy endpoints not yet tried by this request first, then healthy ones, and only when
 * asked the least bad ejected one. Requests with nowhere to go wait in the set's {@link WaitingRoom}.
 * @internal
 */
export class EndpointSet {
  /** Endpoints by address. */
  readonly endpoints = new Map<string, Endpoint>();
  /** Requests waiting for an endpoint of this host. */
  readonly room: WaitingRoom;
  /** The same endpoints as a list. */
  private list: Endpoint[] = [];
  /** The endpoints new requests may go to: {@link list} but the terminating ones while any other is left. */
  private rotation: Endpoint[] = [];
  /** No endpoint is ejected at or after this time (an upper bound: it is not lowered when one is restored early). */
  private ejectedUntilMax: MonotonicMs = longAgo;
  /** The answer the endpoints were last reconciled with. */
  private answer: DnsAnswer | undefined;
  private readonly balancer: Balancer;

  /**
   * @param hostname - the host these endpoints serve
   * @param options - ejection, balancing and waiting settings
   * @param onRemove - called for an endpoint that left the DNS answer (to drain its pool)
   * @param refresh - starts a fresh DNS query whose answer comes back through {@link update}
   */
  constructor(
    readonly hostname: string,
    private readonly options: EndpointSetSettings,
    private readonly onRemove: (endpoint: Endpoint) => void,
    refresh: () => void = noop,
  ) {
    this.balancer = new Balancer(options.balancer);
    this.room = new WaitingRoom(hostname, options.reResolveWhileWaiting, refresh);
  }

  /**
   * Reconciles the endpoints with an answer: new addresses join (releasing waiting requests), departed
   * ones are removed, and an address whose port changed is replaced. Terminating endpoints stay (their
   * requests in flight finish) but get new requests only when no other endpoint is left.
   * While {@link governed}, answers that are not from the discovery source are ignored.
   */
  update(answer: DnsAnswer): void {
    if (answer === this.answer || (this.governed && answer.source !== 'discovery')) return;
    this.answer = answer;
    const keep = new Map(answer.addresses.map((a) => [a.address, a]));
    for (const [address, endpoint] of this.endpoints) {
      const next = keep.get(address);
      if (next === undefined || next.port !== endpoint.address.port) {
        this.endpoints.delete(address);
        this.onRemove(endpoint);
      }
    }
    const before = new Set(this.rotation);
    for (const a of answer.addresses) {
      const endpoint = this.endpoints.get(a.address);
      if (endpoint === undefined) this.endpoints.set(a.address, new Endpoint(a));
      else endpoint.terminating = a.terminating === true;
    }
    this.list = [...this.endpoints.values()];
    const ready = this.list.filter((e) => !e.terminating);
    // As kube-proxy: terminating endpoints take new requests only when nothing else is left.
    this.rotation = ready.length === this.list.length ? this.list : ready.length > 0 ? ready : this.list;
    if (this.rotation.some((e) => !before.has(e))) this.room.release('dns');
  }

  /**
   * True while a discovery source governs the set: DNS answers (refreshes in flight, re-queries after a
   * failure) must not undo its answer. The context sets it.
   */
  governed = false;

  /** Whether the set has any endpoint (DNS answered at least once). */
  get isEmpty(): boolean {
    return this.list.length === 0;
  }

  /**
   * Picks the endpoint for a request's first attempt: {@link pick} with nothing tried, which reads the
   * clock only when an endpoint has ever been ejected.
   */
  pickFirst(): Endpoint | undefined {
    if (this.ejectedUntilMax !== 0) {
      const now = monotonicNow();
      if (now < this.ejectedUntilMax) return this.pick(undefined, undefined, now);
      // Every ejection has ended: later requests skip the clock read.
      this.ejectedUntilMax = longAgo;
    }
    return this.rotation.length > 0 ? this.balancer.choose(this.rotation) : undefined;
  }

  /**
   * Picks the endpoint for the next attempt: one not tried yet, then any healthy one but `last`, then
   * the least bad ejected one.
   * @param tried - addresses this request already tried
   * @param last - the address that just failed (avoided above all)
   */
  pick(tried: readonly string[] | undefined, last: string | undefined, now: MonotonicMs): Endpoint | undefined {
    return this.select(tried, last, now, 'any');
  }

  /** Like {@link pick}, but never an ejected endpoint: undefined when only those are left. */
  pickUsable(tried: readonly string[] | undefined, last: string | undefined, now: MonotonicMs): Endpoint | undefined {
    return this.select(tried, last, now, 'usable');
  }

  /** A healthy endpoint this request has not tried, or undefined. */
  pickUntried(tried: readonly string[] | undefined, now: MonotonicMs): Endpoint | undefined {
    return this.select(tried, undefined, now, 'untried');
  }

  private select(tried: readonly string[] | undefined, last: string | undefined, now: MonotonicMs, mode: 'any' | 'usable' | 'untried'): Endpoint | undefined {
    // The hot path: nothing tried yet and nothing ejected. Straight to the balancer, no allocation.
    if (tried === undefined && now >= this.ejectedUntilMax) return this.rotation.length > 0 ? this.balancer.choose(this.rotation) : undefined;
    const fresh: Endpoint[] = [];
    let healthy: Endpoint[] = [];
    let leastBad: Endpoint | undefined;
    for (const e of this.rotation) {
      if (!e.isEjected(now)) {
        healthy.push(e);
        if (!tried?.includes(e.address.address)) fresh.push(e);
      } else if (!leastBad || lessBad(e, leastBad, last)) {
        leastBad = e;
      }
    }
    if (fresh.length > 0) return this.balancer.choose(fresh);
    if (mode === 'untried') return undefined;
    if (healthy.length > 1 && last !== undefined) healthy = healthy.filter((e) => e.address.address !== last);
    if (healthy.length > 0) return this.balancer.choose(healthy);
    return mode === 'any' ? leastBad : undefined;
  }

  /**
   * Every address of `family` (0: any) in the order a lookup hands them out: the balancer's choice first,
   * the other healthy ones after it in rotation order, then the ejected ones, the one back soonest first.
   */
  ordered(family: 0 | 4 | 6, now: MonotonicMs): ResolvedAddress[] {
    const healthy: Endpoint[] = [];
    const ejected: Endpoint[] = [];
    for (const e of this.list) {
      if (family !== 0 && e.address.family !== family) continue;
      (e.isEjected(now) ? ejected : healthy).push(e);
    }
    const out: ResolvedAddress[] = [];
    if (healthy.length > 0) {
      const start = healthy.indexOf(this.balancer.choose(healthy));
      for (let k = 0; k < healthy.length; k++) out.push(healthy[(start + k) % healthy.length]!.address);
    }
    ejected.sort((a, b) => a.ejectedUntil - b.ejectedUntil);
    for (const e of ejected) out.push(e.address);
    return out;
  }

  /** Whether the set has endpoints of `family` (0: any) and every one of them is ejected. */
  allEjected(family: 0 | 4 | 6, now: MonotonicMs): boolean {
    let any = false;
    for (const e of this.list) {
      if (family !== 0 && e.address.family !== family) continue;
      if (!e.isEjected(now)) return false;
      any = true;
    }
    return any;
  }

  /** Whether any endpoint other than those tried is in rotation. */
  hasUntried(tried: readonly string[] | undefined, now: MonotonicMs): boolean {
    return this.pickUntried(tried, now) !== undefined;
  }

  /** Parks a request until an endpoint may be usable (see {@link WaitingRoom}); an ejection's end releases it too. */
  park(waiter: Waiter): void {
    this.room.park(waiter);
    let soonest = never;
    const now = monotonicNow();
    for (const e of this.rotation) if (e.isEjected(now) && e.ejectedUntil < soonest) soonest = e.ejectedUntil;
    if (soonest !== never) this.room.wakeAt(soonest);
  }

  /** Records a success: clears the failure streak, restores an endpoint on trial, and releases waiting requests when it had been failing. */
  succeeded(endpoint: Endpoint): void {
    const wasFailing = endpoint.consecutiveFailures !== 0;
    endpoint.consecutiveFailures = 0;
    if (endpoint.ejectedUntil === 0 && endpoint.ejections === 0 && !wasFailing) return;
    const now = monotonicNow();
    if (endpoint.ejectedUntil !== 0) {
      endpoint.ejectedUntil = longAgo;
      publish('endpointRestored', () => ({ hostname: this.hostname, address: endpoint.address.address, reason: 'restored', ejectedForMs: 0 }));
    }
    // A long healthy spell forgives earlier ejections (Envoy decrements its multiplier likewise).
    if (endpoint.ejections > 0 && now - endpoint.lastEjectedAt > this.options.ejection.maxTime) endpoint.ejections = 0;
    if (wasFailing) this.room.release('restored');
  }

  /** Records a failure. Returns true when the endpoint was ejected by it. */
  failed(endpoint: Endpoint, kind: EndpointFailure, reason: string, now: MonotonicMs): boolean {
    endpoint.failures++;
    endpoint.consecutiveFailures++;
    if (kind === 'soft') return false;
    if (kind === 'outlier') {
      if (endpoint.consecutiveFailures < this.options.ejection.consecutiveFailures) return false;
      if (!this.mayEject(now)) return false;
    }
    return this.eject(endpoint, reason, now);
  }

  /**
   * Finds endpoints that went silent while their peers answer ({@link isSilent}), ejects them (within
   * `maxPercent`) and tells their attempts in flight. Returns whether any attempt awaits headers here.
   * @param now - now
   * @param floorMs - the threshold's floor: an attempt younger than this cannot be silent
   * @param threshold - the silence threshold in ms, at least `floorMs` (asked only when an attempt has waited past the floor)
   */
  checkSilence(now: MonotonicMs, floorMs: number, threshold: () => number): boolean {
    let busy = false;
    let limit: number | undefined;
    for (const e of this.list) {
      const oldest = oldestUnanswered(e);
      if (oldest === undefined) {
        busy ||= e.oldest !== undefined;
        continue;
      }
      busy = true;
      // The threshold (a percentile of recent latencies) is worth computing only for an attempt past its floor.
      if (now - oldest.startedAt < floorMs) continue;
      limit ??= threshold();
      if (!isSilent(now, oldest.startedAt, e.lastAnsweredAt, this.peerLastAnswered(e), limit)) continue;
      if (!e.isEjected(now) && this.mayEject(now)) {
        // A failure of its own: the attempts it moves or hedges end abandoned, not failed.
        e.failures++;
        e.consecutiveFailures++;
        this.eject(e, 'silent', now);
      } else {
        e.notifyLost('silent');
      }
    }
    return busy;
  }

  /** Removes every endpoint (calls `onRemove` for each) and forgets waiting requests. */
  clear(): void {
    for (const e of this.list) this.onRemove(e);
    this.endpoints.clear();
    this.list = [];
    this.rotation = [];
    this.answer = undefined;
    this.room.close();
  }

  private peerLastAnswered(self: Endpoint): MonotonicMs {
    let latest = longAgo;
    for (const e of this.list) if (e !== self && e.lastAnsweredAt > latest) latest = e.lastAnsweredAt;
    return latest;
  }

  private mayEject(now: MonotonicMs): boolean {
    let ejected = 0;
    for (const e of this.list) if (e.isEjected(now)) ejected++;
    return mayEjectAnother(ejected, this.list.length, this.options.ejection.maxPercent);
  }

  private eject(endpoint: Endpoint, reason: string, now: MonotonicMs): boolean {
    if (endpoint.isEjected(now)) return false;
    const duration = ejectionDuration(this.options.ejection, endpoint.ejections, Math.random());
    endpoint.ejections++;
    endpoint.lastEjectedAt = now;
    endpoint.ejectedUntil = plus(now, duration);
    endpoint.ejectedUntilEpoch = plus(epochNow(), duration);
    endpoint.ejectedFor = reason;
    if (endpoint.ejectedUntil > this.ejectedUntilMax) this.ejectedUntilMax = endpoint.ejectedUntil;
    publish('endpointEjected', () => ({ hostname: this.hostname, address: endpoint.address.address, reason, ejectedForMs: duration }));
    // Attempts still on it need not wait out their timers: each decides whether to move elsewhere.
    endpoint.notifyLost(reason);
    return true;
  }
}

/** The oldest attempt on `e` that started after its last answer (older ones are slow requests, not silence). */
function oldestUnanswered(e: Endpoint): InFlightAttempt | undefined {
  let a = e.oldest;
  while (a !== undefined && a.startedAt <= e.lastAnsweredAt) a = a.inFlightNext;
  return a;
}

function noop(): void {}
