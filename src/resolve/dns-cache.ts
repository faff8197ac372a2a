// Over the ~350 lines files here aim at, for a reason: the cache's one state per name (fresh, due for a
// prefetch, expired, failing, negative) and every transition of it read best in one place; the wire
// queries, the options and the system files live in dns-query.ts, dns-options.ts and system-config.ts.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { DnsResolutionError } from '../errors/errors.js';
import { publish } from '../events/channels.js';
import { type DnsOptions, resolveDnsOptions } from './dns-options.js';
import { queryWithSearch, type QueryResult } from './dns-query.js';
import { readHostsFile, readResolvConf } from './system-config.js';
import { plus, epochNow, longAgo, type MonotonicMs, monotonicNow, never } from '../timing/clock.js';

/** One resolved address. */
export interface ResolvedAddress {
  /** The IP address. */
  readonly address: string;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The endpoint's own port, when a discovery source knows it (a Service's targetPort); the origin's port otherwise. */
  readonly port?: number;
  /** A discovery source reports the endpoint as terminating (still serving): no new requests unless nothing else is left. */
  readonly terminating?: boolean;
}

/** An answer for a host name, as the cache serves it. A new object whenever the answer changes. */
export interface DnsAnswer {
  /** The host name asked for (lower case; a trailing dot, meaning "absolute", is kept). */
  readonly hostname: string;
  /** The addresses, IPv4 first, in answer order. Never empty. */
  readonly addresses: readonly ResolvedAddress[];
  /** Where the answer came from (`discovery`: the `discovery` option's source, whose addresses may be empty). */
  readonly source: 'dns' | 'hosts' | 'literal' | 'discovery';
  /** When the answer was received (epoch ms). */
  readonly fetchedAt: number;
  /** Until when the answer is fresh (epoch ms); `Infinity` for literals and hosts-file entries. */
  readonly expiresAt: number;
  /** True when DNS failed and this is the last good answer served beyond its TTL. */
  readonly stale: boolean;
}

/** A name's state. Its times are on the monotonic clock (a wall-clock jump must not keep an answer fresh); the answer's own epoch times are for people. */
interface Entry {
  answer?: DnsAnswer;
  /** Served (rejected with) until `expiresAt`: NXDOMAIN/NODATA, or a DNS failure with no good answer to fall back on. */
  error?: DnsResolutionError;
  /** When the entry must be refreshed. */
  expiresAt: MonotonicMs;
  /** When an answer in use is refreshed ahead of its expiry (`prefetch`); {@link never} for none. */
  refreshAt: MonotonicMs;
  /** Until when the last good answer may be served while DNS fails. */
  staleUntil: MonotonicMs;
  /** When the last query for this host started, for rate limiting failure-triggered refreshes. */
  lastQueryAt: MonotonicMs;
  /** Whether the name has ever resolved to addresses. */
  known?: boolean;
  /** The last query failed (timeout, SERVFAIL, a bad reply): no query before `expiresAt`, the failure hold. */
  failing?: boolean;
}

/** A query in flight for one name. */
interface Flight {
  readonly promise: Promise<DnsAnswer>;
  /** What resolve() hands out while the answer it refreshes has expired: the refresh, or the previous answer once the refresh is slow. */
  served?: Promise<DnsAnswer>;
}

type Trigger = 'miss' | 'expired' | 'failure' | 'prefetch';

/** How long requests wait for the refresh of an expired answer before the previous answer is served. */
const revalidateGraceMs = 25;

/** Share of an answer's TTL after which an answer in use is refreshed ahead of its expiry (unbound prefetches at 90 % too). */
const prefetchAt = 0.9;

/** Shortest failure hold: a name whose DNS fails is queried at most about once per this (or per minTtl if longer). */
const failureHoldMs = 1_000;

/**
 * A short-TTL DNS cache that resolves A/AAAA with their record TTLs (through c-ares, not the libuv
 * threadpool), applies the resolv.conf search list and the hosts file like a pod's resolver, shares
 * one query between concurrent callers, re-resolves at once (rate-limited) when an address fails, and
 * serves the last good answer while DNS itself is down.
 *
 * Bounded: at most `maxHosts` names are kept (least recently used evicted).
 */
export class DnsCache {
  private readonly resolver: Resolver;
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Flight>();
  private readonly hosts: Map<string, string[]>;
  private readonly search: readonly string[];
  private readonly ndots: number;
  private readonly family: 0 | 4 | 6;
  private readonly maxTtl: number;
  private readonly minTtl: number;
  private readonly staleTtl: number;
  private readonly negativeTtl: number;
  private readonly reResolveInterval: number;
  private readonly prefetchOn: boolean;
  private closed = false;

  /**
   * @param given - DNS settings; validated here (throws `TypeError`/`RangeError` naming the option)
   */
  constructor(given: DnsOptions = {}) {
    const options = resolveDnsOptions(given);
    const conf = readResolvConf(options.resolvConf);
    this.resolver = new Resolver({ timeout: options.timeout, tries: options.tries });
    const servers = options.servers ?? conf.nameservers;
    if (servers.length > 0) this.resolver.setServers([...servers]);
    const hostsFile = options.hostsFile;
    this.hosts = hostsFile === false ? new Map() : readHostsFile(hostsFile);
    this.search = (options.search ?? conf.search).map((d) => d.replace(/^\.|\.$/g, '')).filter(Boolean);
    this.ndots = options.ndots ?? conf.ndots;
    this.family = options.family;
    this.maxTtl = options.maxTtl;
    this.minTtl = options.minTtl;
    this.staleTtl = options.staleTtl;
    this.negativeTtl = options.negativeTtl;
    this.reResolveInterval = options.reResolveInterval;
    this.prefetchOn = options.prefetch;
    // maxSize rather than max: lru-cache preallocates arrays of `max` slots, whatever the cache ever holds.
    this.cache = new LRUCache<string, Entry>({ maxSize: options.maxHosts, sizeCalculation: one });
  }

  /** Number of host names cached. */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Resolves a host name (or IP literal) to its addresses.
   * Serves the cached answer while fresh; otherwise queries DNS (one query shared by concurrent callers).
   * An answer past its TTL but within `staleTtl` is refreshed in the background: callers wait for the
   * refresh at most 100 ms after the first of them asked, then get the previous answer at once until it lands.
   * A name whose DNS fails (timeout, SERVFAIL, a bad reply) is queried again only after a failure hold
   * of about a second; meanwhile callers get the last good answer, or the cached `DnsResolutionError`.
   * @throws {@link DnsResolutionError} on NXDOMAIN/empty answers, or DNS failure with no good answer to fall back on
   */
  resolve(hostname: string): Promise<DnsAnswer> {
    const key = normalize(hostname);
    const entry = this.cache.get(key);
    const now = monotonicNow();
    if (entry) {
      if (now < entry.expiresAt) {
        if (entry.error) return Promise.reject(entry.error);
        if (now >= entry.refreshAt) this.prefetchEntry(key, entry);
        return Promise.resolve(entry.answer!);
      }
      const previous = entry.answer;
      if (previous && now < entry.staleUntil) {
        const flight = this.refresh(key, 'expired');
        if (!previous.stale) return (flight.served ??= this.serveWhileSlow(key, flight.promise, previous));
        // DNS already known to be failing: the stale answer at once, the refresh in the background.
        flight.promise.catch(noop);
        return Promise.resolve(previous);
      }
    }
    const fixed = this.fixedAnswer(key, now);
    if (fixed) return Promise.resolve(fixed);
    return this.refresh(key, entry ? 'expired' : 'miss').promise;
  }

  /**
   * The refresh of an expired answer if it lands within {@link revalidateGraceMs}, else the previous
   * answer (published as stale). In-cluster DNS answers in a few ms, so a changed answer is used at
   * once; a slow or silent DNS costs requests at most that grace, once per refresh.
   */
  private serveWhileSlow(key: string, refresh: Promise<DnsAnswer>, previous: DnsAnswer): Promise<DnsAnswer> {
    return new Promise<DnsAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        publish('stale', () => ({
          hostname: key,
          addresses: previous.addresses.map((a) => a.address),
          error: 'ETIMEOUT',
          ageMs: epochNow() - previous.fetchedAt,
          refreshing: true,
        }));
        resolve(previous);
      }, revalidateGraceMs);
      // The query in flight keeps the process alive if anything should; the grace alone should not.
      timer.unref();
      refresh.then(
        (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** The cached answer for a host if it is fresh (no query, no promise), else undefined. */
  fresh(hostname: string): DnsAnswer | undefined {
    return this.freshUntil(hostname, monotonicNow())?.answer;
  }

  /**
   * Like {@link fresh}, with the time until which callers may keep the answer without asking
   * again, as long as {@link generation} does not change: its expiry, or, while `prefetch` is due, when it
   * becomes due. Once due, this starts the refresh (one per name), and its answer changes the generation.
   * @internal
   */
  freshUntil(hostname: string, now: MonotonicMs): { answer: DnsAnswer; until: MonotonicMs } | undefined {
    const key = normalize(hostname);
    const entry = this.cache.get(key);
    if (!entry?.answer || entry.error || now >= entry.expiresAt) return undefined;
    if (now < entry.refreshAt) return { answer: entry.answer, until: entry.refreshAt };
    this.prefetchEntry(key, entry);
    return { answer: entry.answer, until: entry.expiresAt };
  }

  /**
   * Refreshes a fresh answer that is in use and near its expiry, in the background. Once per TTL: a
   * failed prefetch leaves the answer as it is until it expires (then the usual refresh, stale answer and
   * failure hold take over), and is not tried again before then.
   */
  private prefetchEntry(key: string, entry: Entry): void {
    entry.refreshAt = never;
    if (this.closed || this.inflight.has(key)) return;
    this.refresh(key, 'prefetch').promise.catch(noop);
  }

  private changes = 0;

  /** Counts changes to the cache: an answer read at one generation is current while the generation is the same. @internal */
  get generation(): number {
    return this.changes;
  }

  /** Caches an entry (and counts the change). */
  private store(key: string, entry: Entry): void {
    this.changes++;
    this.cache.set(key, entry);
  }

  /**
   * The cached answer for a host, fresh or not, without querying.
   */
  peek(hostname: string): DnsAnswer | undefined {
    return this.cache.get(normalize(hostname), { updateAgeOnGet: false })?.answer;
  }

  /**
   * Tells the cache an address of `hostname` failed: starts a fresh resolution at once, bypassing the
   * cache, unless one ran less than `reResolveInterval` ago or DNS is failing for the name (its failure
   * hold bounds the queries). Returns the refresh in flight, if any.
   */
  reportFailure(hostname: string): Promise<DnsAnswer> | undefined {
    const key = normalize(hostname);
    const running = this.inflight.get(key);
    if (running) return running.promise;
    const entry = this.cache.get(key, { updateAgeOnGet: false });
    if (!entry || entry.answer?.source === 'literal' || entry.answer?.source === 'hosts') return undefined;
    const now = monotonicNow();
    if (now - entry.lastQueryAt < this.reResolveInterval || (entry.failing && now < entry.expiresAt)) return undefined;
    const p = this.refresh(key, 'failure').promise;
    p.catch(noop);
    return p;
  }

  /**
   * Starts a fresh query for a name the cache has an entry for (an answer, fresh or expired, or a
   * negative answer), or joins the one in flight, bypassing the TTL and `reResolveInterval`: the caller
   * bounds how often it asks. The failure hold still holds, so a name whose DNS fails costs at most one
   * resolution per hold however often waiting requests ask. The result updates the cache like any
   * refresh (on a DNS failure the last good answer is served, marked stale, while within `staleTtl`).
   * Never throws synchronously; the promise rejects with {@link DnsResolutionError}.
   * @returns the refresh, or undefined for IP literals, hosts-file names, names not in the cache, names
   *   in their failure hold and a closed cache
   */
  revalidate(hostname: string): Promise<DnsAnswer> | undefined {
    if (typeof hostname !== 'string' || this.closed) return undefined;
    const key = normalize(hostname);
    const running = this.inflight.get(key);
    if (running) return running.promise;
    const entry = this.cache.get(key, { updateAgeOnGet: false });
    if (!entry || entry.answer?.source === 'literal' || entry.answer?.source === 'hosts') return undefined;
    if (entry.failing && monotonicNow() < entry.expiresAt) return undefined;
    const p = this.refresh(key, 'failure').promise;
    p.catch(noop);
    return p;
  }

  /** The refresh in flight for a host, if any. */
  pending(hostname: string): Promise<DnsAnswer> | undefined {
    return this.inflight.get(normalize(hostname))?.promise;
  }

  /** Forgets every cached answer. */
  clear(): void {
    this.changes++;
    this.cache.clear();
  }

  /** Cancels queries in flight and forgets the cache. */
  close(): void {
    this.closed = true;
    this.resolver.cancel();
    this.changes++;
    this.cache.clear();
  }

  private fixedAnswer(key: string, now: MonotonicMs): DnsAnswer | undefined {
    const literal = isIP(key);
    const addresses: ResolvedAddress[] = literal
      ? [{ address: key, family: literal as 4 | 6 }]
      : (this.hosts.get(key.replace(/\.$/, '')) ?? [])
          .map((address) => ({ address, family: isIP(address) as 4 | 6 }))
          .filter((a) => this.family === 0 || a.family === this.family)
          .sort((a, b) => a.family - b.family);
    if (addresses.length === 0) return undefined;
    const answer: DnsAnswer = { hostname: key, addresses, source: literal ? 'literal' : 'hosts', fetchedAt: epochNow(), expiresAt: Infinity, stale: false };
    this.store(key, { answer, expiresAt: never, refreshAt: never, staleUntil: never, lastQueryAt: now });
    return answer;
  }

  private refresh(key: string, trigger: Trigger): Flight {
    const running = this.inflight.get(key);
    if (running) return running;
    const flight: Flight = { promise: this.query(key, trigger).finally(() => this.inflight.delete(key)) };
    this.inflight.set(key, flight);
    return flight;
  }

  /** When a name whose DNS just failed may be queried again: jittered, so names that failed together do not retry together. */
  private failureHoldUntil(now: MonotonicMs): MonotonicMs {
    const base = Math.max(this.minTtl, failureHoldMs);
    return plus(now, base + Math.random() * base * 0.25);
  }

  private async query(key: string, trigger: Trigger): Promise<DnsAnswer> {
    const started = monotonicNow();
    const previous = this.cache.get(key, { updateAgeOnGet: false });
    if (previous) previous.lastQueryAt = started;
    let result: QueryResult;
    try {
      result = await queryWithSearch(this.resolver, key, this.search, this.ndots, this.family);
    } catch (err) {
      const code = errorCode(err);
      const now = monotonicNow();
      // close() cancelled the query: nothing to learn, nothing to publish.
      if (this.closed) throw new DnsResolutionError(key, code, { cause: err });
      publish('resolve', () => ({ hostname: key, addresses: [], ttlSeconds: 0, trigger, error: code, durationMs: now - started }));
      const holdUntil = this.failureHoldUntil(now);
      const last = previous?.answer;
      // A prefetch that failed: the answer is still within its TTL; it is served as it is until it expires.
      if (trigger === 'prefetch' && last && !previous.error && now < previous.expiresAt) throw new DnsResolutionError(key, code, { cause: err });
      if (last && now < previous.staleUntil) {
        const answer: DnsAnswer = last.stale ? last : { ...last, stale: true };
        // Never past staleUntil: staleTtl bounds how long the last good answer is served.
        this.store(key, {
          answer,
          expiresAt: Math.min(previous.staleUntil, holdUntil) as MonotonicMs,
          refreshAt: never,
          staleUntil: previous.staleUntil,
          lastQueryAt: started,
          known: true,
          failing: true,
        });
        publish('stale', () => ({ hostname: key, addresses: answer.addresses.map((a) => a.address), error: code, ageMs: epochNow() - answer.fetchedAt }));
        return answer;
      }
      // Nothing good to serve: the failure itself is cached for the hold, so a burst of requests is one query.
      const error = new DnsResolutionError(key, code, { cause: err });
      this.store(key, {
        error,
        expiresAt: holdUntil,
        refreshAt: never,
        staleUntil: longAgo,
        lastQueryAt: started,
        known: previous?.known === true,
        failing: true,
      });
      throw error;
    }
    const now = monotonicNow();
    if ('negative' in result) {
      const known = previous?.known === true;
      const error = new DnsResolutionError(key, result.negative, { retryable: known });
      this.store(key, { error, expiresAt: plus(now, this.negativeTtl), refreshAt: never, staleUntil: longAgo, lastQueryAt: started, known });
      publish('resolve', () => ({
        hostname: key,
        addresses: [],
        ttlSeconds: this.negativeTtl / 1000,
        trigger,
        error: result.negative,
        durationMs: now - started,
      }));
      throw error;
    }
    const ttlMs = Math.min(this.maxTtl, Math.max(this.minTtl, result.ttlMs));
    const last = previous?.answer;
    // The answer's times are for people (epoch); the entry's decide (monotonic).
    const wall = epochNow();
    const answer: DnsAnswer =
      last && !last.stale && sameAddresses(last.addresses, result.addresses)
        ? { ...last, fetchedAt: wall, expiresAt: wall + ttlMs }
        : { hostname: key, addresses: result.addresses, source: 'dns', fetchedAt: wall, expiresAt: wall + ttlMs, stale: false };
    this.store(key, {
      answer,
      expiresAt: plus(now, ttlMs),
      refreshAt: this.prefetchOn ? plus(now, ttlMs * prefetchAt) : never,
      staleUntil: plus(now, ttlMs + this.staleTtl),
      lastQueryAt: started,
      known: true,
    });
    publish('resolve', () => ({
      hostname: key,
      addresses: result.addresses.map((a) => a.address),
      ttlSeconds: ttlMs / 1000,
      trigger,
      error: undefined,
      durationMs: now - started,
    }));
    return answer;
  }
}

function normalize(hostname: string): string {
  let h = hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h;
}

function sameAddresses(a: readonly ResolvedAddress[], b: readonly ResolvedAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => x.address === b[i]!.address);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function noop(): void {}

/** Every entry counts one towards `maxHosts`. */
function one(): number {
  return 1;
}
