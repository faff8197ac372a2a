import { publish } from '../events/channels.js';
import type { DnsAnswer } from '../resolve/dns-cache.js';
import { Endpoint } from './endpoint.js';

/** Endpoint (per IP) ejection: how long a failing address is kept out of rotation. */
export interface EjectionOptions {
  /** First ejection time in ms; doubles on each repeated ejection (with jitter). Default 10000. Range 100–3600000. */
  readonly baseTime?: number;
  /** Longest ejection time in ms. Default 120000. Range 100–3600000 and at least `baseTime`. */
  readonly maxTime?: number;
  /**
   * Most endpoints of one host that may be ejected at once, as a percentage (Envoy's max_ejection_percent).
   * Failing connects still mark an address bad; when every address is bad the least bad one is tried
   * rather than failing without trying. Default 100 for connect failures is implied; this limits ejection
   * for 5xx/timeouts. Default 50. Range 0–100.
   */
  readonly maxPercent?: number;
  /** Consecutive 5xx responses or timeouts that eject an address. Default 5 (Envoy). Range 1–1000. */
  readonly consecutiveFailures?: number;
}

/** What an endpoint set needs of the options. @internal */
export interface EndpointSetSettings {
  readonly ejection: Required<EjectionOptions>;
  readonly balancer: 'p2c' | 'round-robin';
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
 * attempt goes: healthy endpoints not yet tried by this request first, power of two choices on
 * requests in flight; when every endpoint is ejected, the least bad one rather than none.
 * @internal
 */
export class EndpointSet {
  /** Endpoints by address. */
  readonly endpoints = new Map<string, Endpoint>();
  /** The same endpoints as a list, for the balancer. */
  private list: Endpoint[] = [];
  /** No endpoint is ejected at or after this time (an upper bound: it is not lowered when one is restored early). */
  private ejectedUntilMax = 0;
  /** The answer the endpoints were last reconciled with. */
  private answer: DnsAnswer | undefined;

  /**
   * @param hostname - the host these endpoints serve
   * @param options - ejection settings
   * @param onRemove - called for an endpoint that left the DNS answer (to drain its pool)
   */
  constructor(
    readonly hostname: string,
    private readonly options: EndpointSetSettings,
    private readonly onRemove: (endpoint: Endpoint) => void,
  ) {}

  /** Reconciles the endpoints with a DNS answer: new addresses join, departed ones are removed. */
  update(answer: DnsAnswer): void {
    if (answer === this.answer) return;
    this.answer = answer;
    const keep = new Set(answer.addresses.map((a) => a.address));
    for (const [address, endpoint] of this.endpoints) {
      if (!keep.has(address)) {
        this.endpoints.delete(address);
        this.onRemove(endpoint);
      }
    }
    for (const a of answer.addresses) {
      if (!this.endpoints.has(a.address)) this.endpoints.set(a.address, new Endpoint(a));
    }
    this.list = [...this.endpoints.values()];
  }

  /**
   * Picks the endpoint for a request's first attempt: {@link pick} with nothing tried, which reads the
   * clock only when an endpoint has ever been ejected.
   */
  pickFirst(): Endpoint | undefined {
    if (this.ejectedUntilMax !== 0) {
      const now = Date.now();
      if (now < this.ejectedUntilMax) return this.pick(undefined, undefined, now);
    }
    return this.chooseAmongAll();
  }

  /**
   * Picks the endpoint for the next attempt.
   * @param tried - addresses this request already tried (avoided while others exist)
   * @param last - the address that just failed (avoided above all)
   */
  pick(tried: readonly string[] | undefined, last: string | undefined, now: number): Endpoint | undefined {
    // The hot path: nothing tried yet and nothing ejected. Straight to the balancer, no allocation.
    if (tried === undefined && now >= this.ejectedUntilMax) return this.chooseAmongAll();
    const fresh: Endpoint[] = [];
    let healthy: Endpoint[] = [];
    let leastBad: Endpoint | undefined;
    for (const e of this.endpoints.values()) {
      if (!e.isEjected(now)) {
        healthy.push(e);
        if (!tried?.includes(e.address.address)) fresh.push(e);
      } else if (!leastBad || lessBad(e, leastBad, last)) {
        leastBad = e;
      }
    }
    if (fresh.length > 0) return this.choose(fresh);
    if (healthy.length > 1 && last !== undefined) healthy = healthy.filter((e) => e.address.address !== last);
    if (healthy.length > 0) return this.choose(healthy);
    return leastBad;
  }

  private turn = 0;

  /** The balancer over every endpoint (none ejected, none tried): no allocation. */
  private chooseAmongAll(): Endpoint | undefined {
    return this.list.length > 0 ? this.choose(this.list) : undefined;
  }

  /** Round-robin, or power of two choices on requests in flight. */
  private choose(list: Endpoint[]): Endpoint {
    const n = list.length;
    const i = this.turn % n;
    // Kept a small integer: a counter past 2^30 would become a boxed number.
    this.turn = this.turn === 0x3fffffff ? 0 : this.turn + 1;
    if (this.options.balancer === 'round-robin' || n === 1) return list[i]!;
    return twoChoices(list, i);
  }

  /** Whether any endpoint other than those tried is in rotation. */
  hasUntried(tried: readonly string[] | undefined, now: number): boolean {
    for (const e of this.endpoints.values()) if (!e.isEjected(now) && !tried?.includes(e.address.address)) return true;
    return false;
  }

  /** Records a success: clears the failure streak and restores an endpoint on trial. */
  succeeded(endpoint: Endpoint): void {
    endpoint.consecutiveFailures = 0;
    if (endpoint.ejectedUntil === 0 && endpoint.ejections === 0) return;
    const now = Date.now();
    if (endpoint.ejectedUntil !== 0) {
      endpoint.ejectedUntil = 0;
      publish('endpointRestored', () => ({ hostname: this.hostname, address: endpoint.address.address, reason: 'restored', ejectedForMs: 0 }));
    }
    // A long healthy spell forgives earlier ejections (Envoy decrements its multiplier likewise).
    if (endpoint.ejections > 0 && now - endpoint.lastEjectedAt > this.options.ejection.maxTime) endpoint.ejections = 0;
  }

  /**
   * Records a failure. Returns true when the endpoint was ejected by it.
   */
  failed(endpoint: Endpoint, kind: EndpointFailure, reason: string, now: number): boolean {
    endpoint.failures++;
    endpoint.consecutiveFailures++;
    if (kind === 'soft') return false;
    if (kind === 'outlier') {
      if (endpoint.consecutiveFailures < this.options.ejection.consecutiveFailures) return false;
      if (!this.mayEject(now)) return false;
    }
    this.eject(endpoint, reason, now);
    return true;
  }

  private mayEject(now: number): boolean {
    let ejected = 0;
    for (const e of this.endpoints.values()) if (e.isEjected(now)) ejected++;
    return ((ejected + 1) / this.endpoints.size) * 100 <= this.options.ejection.maxPercent;
  }

  private eject(endpoint: Endpoint, reason: string, now: number): void {
    const { baseTime, maxTime } = this.options.ejection;
    if (endpoint.isEjected(now)) return;
    const base = Math.min(maxTime, baseTime * 2 ** Math.min(endpoint.ejections, 20));
    const duration = Math.round(base * (0.85 + Math.random() * 0.3));
    endpoint.ejections++;
    endpoint.lastEjectedAt = now;
    endpoint.ejectedUntil = now + Math.min(maxTime, duration);
    if (endpoint.ejectedUntil > this.ejectedUntilMax) this.ejectedUntilMax = endpoint.ejectedUntil;
    publish('endpointEjected', () => ({ hostname: this.hostname, address: endpoint.address.address, reason, ejectedForMs: endpoint.ejectedUntil - now }));
  }

  /** Removes every endpoint (calls `onRemove` for each). */
  clear(): void {
    for (const e of this.endpoints.values()) this.onRemove(e);
    this.endpoints.clear();
    this.list = [];
    this.answer = undefined;
  }
}

/** Among ejected endpoints: the one that did not just fail, then the one whose ejection ends first. */
function lessBad(a: Endpoint, b: Endpoint, last: string | undefined): boolean {
  const aLast = a.address.address === last;
  const bLast = b.address.address === last;
  if (aLast !== bLast) return bLast;
  return a.ejectedUntil < b.ejectedUntil;
}

/**
 * Power of two choices on requests in flight: the endpoint next in rotation (`list[i]`) against one
 * other picked at random; fewer requests in flight wins, and a tie goes to the rotation's. Under even
 * load this is round-robin, which spreads requests, and so connections, evenly (two random picks made
 * each pool open more connections for its bursts: 89 instead of 64 for 32 requests in flight over 8
 * endpoints in the loopback benchmark); a slow or stuck endpoint, whose requests pile up, loses every
 * comparison it is drawn into.
 */
function twoChoices(list: Endpoint[], i: number): Endpoint {
  let j = Math.floor(Math.random() * (list.length - 1));
  if (j >= i) j++;
  const a = list[i]!;
  const b = list[j]!;
  return b.inFlight < a.inFlight ? b : a;
}
