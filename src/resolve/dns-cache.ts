import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { DnsResolutionError } from '../errors/errors.js';
import { publish } from '../events/channels.js';
import { type DnsOptions, dnsDefaults, validateDnsOptions } from './dns-options.js';
import { readHostsFile, readResolvConf } from './system-config.js';

/** One resolved address. */
export interface ResolvedAddress {
  /** The IP address. */
  readonly address: string;
  /** 4 or 6. */
  readonly family: 4 | 6;
}

/** An answer for a host name, as the cache serves it. A new object whenever the answer changes. */
export interface DnsAnswer {
  /** The host name asked for (lower case; a trailing dot, meaning "absolute", is kept). */
  readonly hostname: string;
  /** The addresses, IPv4 first, in answer order. Never empty. */
  readonly addresses: readonly ResolvedAddress[];
  /** Where the answer came from. */
  readonly source: 'dns' | 'hosts' | 'literal';
  /** When the answer was received (epoch ms). */
  readonly fetchedAt: number;
  /** Until when the answer is fresh (epoch ms); `Infinity` for literals and hosts-file entries. */
  readonly expiresAt: number;
  /** True when DNS failed and this is the last good answer served beyond its TTL. */
  readonly stale: boolean;
}

interface Entry {
  answer?: DnsAnswer;
  negative?: DnsResolutionError;
  /** When the entry must be refreshed. */
  expiresAt: number;
  /** Until when the last good answer may be served while DNS fails. */
  staleUntil: number;
  /** When the last query for this host started, for rate limiting failure-triggered refreshes. */
  lastQueryAt: number;
  /** Whether the name has ever resolved to addresses. */
  known?: boolean;
}

type Trigger = 'miss' | 'expired' | 'failure';

const negativeCodes = new Set(['ENOTFOUND', 'ENODATA']);

/** How long a request waits for the refresh of a just-expired answer before using the previous one. */
const revalidateGraceMs = 100;

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
  private readonly inflight = new Map<string, Promise<DnsAnswer>>();
  private readonly hosts: Map<string, string[]>;
  private readonly search: readonly string[];
  private readonly ndots: number;
  private readonly family: 0 | 4 | 6;
  private readonly maxTtl: number;
  private readonly minTtl: number;
  private readonly staleTtl: number;
  private readonly negativeTtl: number;
  private readonly reResolveInterval: number;
  private closed = false;

  /**
   * @param options - DNS settings; validated here (throws `TypeError`/`RangeError` naming the option)
   */
  constructor(options: DnsOptions = {}) {
    validateDnsOptions(options);
    const conf = readResolvConf(options.resolvConf ?? dnsDefaults.resolvConf);
    this.resolver = new Resolver({ timeout: options.timeout ?? dnsDefaults.timeout, tries: options.tries ?? dnsDefaults.tries });
    const servers = options.servers ?? conf.nameservers;
    if (servers.length > 0) this.resolver.setServers([...servers]);
    const hostsFile = options.hostsFile ?? dnsDefaults.hostsFile;
    this.hosts = hostsFile === false ? new Map() : readHostsFile(hostsFile);
    this.search = (options.search ?? conf.search).map((d) => d.replace(/^\.|\.$/g, '')).filter(Boolean);
    this.ndots = options.ndots ?? conf.ndots;
    this.family = options.family ?? dnsDefaults.family;
    this.maxTtl = options.maxTtl ?? dnsDefaults.maxTtl;
    this.minTtl = Math.min(options.minTtl ?? dnsDefaults.minTtl, this.maxTtl);
    this.staleTtl = options.staleTtl ?? dnsDefaults.staleTtl;
    this.negativeTtl = options.negativeTtl ?? dnsDefaults.negativeTtl;
    this.reResolveInterval = options.reResolveInterval ?? dnsDefaults.reResolveInterval;
    this.cache = new LRUCache<string, Entry>({ max: options.maxHosts ?? dnsDefaults.maxHosts });
  }

  /** Number of host names cached. */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Resolves a host name (or IP literal) to its addresses.
   * Serves the cached answer while fresh; otherwise queries DNS (one query shared by concurrent callers).
   * @throws {@link DnsResolutionError} on NXDOMAIN/empty answers, or DNS failure with no good answer to fall back on
   */
  resolve(hostname: string): Promise<DnsAnswer> {
    const key = normalize(hostname);
    const entry = this.cache.get(key);
    const now = Date.now();
    if (entry) {
      if (now < entry.expiresAt) return entry.negative ? Promise.reject(entry.negative) : Promise.resolve(entry.answer!);
      // DNS already known to be failing: serve the stale answer at once and refresh in the background.
      if (entry.answer?.stale && now < entry.staleUntil) {
        this.refresh(key, 'expired').catch(noop);
        return Promise.resolve(entry.answer);
      }
    }
    const fixed = this.fixedAnswer(key, now);
    if (fixed) return Promise.resolve(fixed);
    const refresh = this.refresh(key, entry ? 'expired' : 'miss');
    const previous = entry?.answer;
    if (!previous || now >= entry.staleUntil) return refresh;
    // The answer just expired. In-cluster DNS answers in a few ms; if it is slower than that, use the
    // previous answer for this request rather than holding it for a whole DNS timeout (the refresh goes on
    // and updates the cache; a failed address re-resolves anyway).
    return new Promise<DnsAnswer>((resolve, reject) => {
      const timer = setTimeout(() => resolve(previous), revalidateGraceMs);
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
    return this.freshUntil(hostname, Date.now())?.answer;
  }

  /**
   * Like {@link fresh}, with the time (epoch ms) until which the answer stays fresh as long as
   * {@link generation} does not change: callers may keep it that long without asking again.
   * @internal
   */
  freshUntil(hostname: string, now: number): { answer: DnsAnswer; until: number } | undefined {
    const entry = this.cache.get(normalize(hostname));
    return entry && entry.answer && !entry.negative && now < entry.expiresAt ? { answer: entry.answer, until: entry.expiresAt } : undefined;
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
   * cache, unless one ran less than `reResolveInterval` ago. Returns the refresh in flight, if any.
   */
  reportFailure(hostname: string): Promise<DnsAnswer> | undefined {
    const key = normalize(hostname);
    const running = this.inflight.get(key);
    if (running) return running;
    const entry = this.cache.get(key, { updateAgeOnGet: false });
    if (!entry || entry.answer?.source === 'literal' || entry.answer?.source === 'hosts') return undefined;
    if (Date.now() - entry.lastQueryAt < this.reResolveInterval) return undefined;
    const p = this.refresh(key, 'failure');
    p.catch(noop);
    return p;
  }

  /** The refresh in flight for a host, if any. */
  pending(hostname: string): Promise<DnsAnswer> | undefined {
    return this.inflight.get(normalize(hostname));
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

  private fixedAnswer(key: string, now: number): DnsAnswer | undefined {
    const literal = isIP(key);
    const addresses: ResolvedAddress[] = literal
      ? [{ address: key, family: literal as 4 | 6 }]
      : (this.hosts.get(key.replace(/\.$/, '')) ?? [])
          .map((address) => ({ address, family: isIP(address) as 4 | 6 }))
          .filter((a) => this.family === 0 || a.family === this.family)
          .sort((a, b) => a.family - b.family);
    if (addresses.length === 0) return undefined;
    const answer: DnsAnswer = { hostname: key, addresses, source: literal ? 'literal' : 'hosts', fetchedAt: now, expiresAt: Infinity, stale: false };
    this.store(key, { answer, expiresAt: Infinity, staleUntil: Infinity, lastQueryAt: now });
    return answer;
  }

  private refresh(key: string, trigger: Trigger): Promise<DnsAnswer> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.query(key, trigger).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async query(key: string, trigger: Trigger): Promise<DnsAnswer> {
    const started = Date.now();
    const previous = this.cache.get(key, { updateAgeOnGet: false });
    if (previous) previous.lastQueryAt = started;
    let result: { addresses: ResolvedAddress[]; ttlMs: number } | { negative: string };
    try {
      result = await this.queryWithSearch(key);
    } catch (err) {
      const code = errorCode(err);
      const now = Date.now();
      // close() cancelled the query: nothing to learn, nothing to publish.
      if (this.closed) throw new DnsResolutionError(key, code, { cause: err });
      publish('resolve', () => ({ hostname: key, addresses: [], ttlSeconds: 0, trigger, error: code, durationMs: now - started }));
      const last = previous?.answer;
      if (last && now < previous.staleUntil) {
        const answer: DnsAnswer = last.stale ? last : { ...last, stale: true };
        // Never past staleUntil: staleTtl bounds how long the last good answer is served.
        this.store(key, { answer, expiresAt: Math.min(previous.staleUntil, now + Math.max(this.minTtl, 1_000)), staleUntil: previous.staleUntil, lastQueryAt: started, known: true });
        publish('stale', () => ({ hostname: key, addresses: answer.addresses.map((a) => a.address), error: code, ageMs: now - answer.fetchedAt }));
        return answer;
      }
      throw new DnsResolutionError(key, code, { cause: err });
    }
    const now = Date.now();
    if ('negative' in result) {
      const known = previous?.known === true;
      const error = new DnsResolutionError(key, result.negative, { retryable: known });
      this.store(key, { negative: error, expiresAt: now + this.negativeTtl, staleUntil: 0, lastQueryAt: started, known });
      publish('resolve', () => ({ hostname: key, addresses: [], ttlSeconds: this.negativeTtl / 1000, trigger, error: result.negative, durationMs: now - started }));
      throw error;
    }
    const ttlMs = Math.min(this.maxTtl, Math.max(this.minTtl, result.ttlMs));
    const last = previous?.answer;
    const answer: DnsAnswer =
      last && !last.stale && sameAddresses(last.addresses, result.addresses)
        ? { ...last, fetchedAt: now, expiresAt: now + ttlMs }
        : { hostname: key, addresses: result.addresses, source: 'dns', fetchedAt: now, expiresAt: now + ttlMs, stale: false };
    this.store(key, { answer, expiresAt: now + ttlMs, staleUntil: now + ttlMs + this.staleTtl, lastQueryAt: started, known: true });
    publish('resolve', () => ({ hostname: key, addresses: result.addresses.map((a) => a.address), ttlSeconds: ttlMs / 1000, trigger, error: undefined, durationMs: now - started }));
    return answer;
  }

  /** Tries the names a pod's resolver would, in its order; the first with addresses wins. */
  private async queryWithSearch(key: string): Promise<{ addresses: ResolvedAddress[]; ttlMs: number } | { negative: string }> {
    let negative: string | undefined;
    for (const name of this.candidates(key)) {
      const r = await this.queryName(name);
      if ('addresses' in r) return r;
      negative = r.negative === 'ENOTFOUND' || negative === 'ENOTFOUND' ? 'ENOTFOUND' : r.negative;
    }
    return { negative: negative ?? 'ENOTFOUND' };
  }

  private candidates(key: string): string[] {
    if (key.endsWith('.') || this.search.length === 0) return [key];
    const dots = key.split('.').length - 1;
    const searched = this.search.map((domain) => `${key}.${domain}`);
    return dots >= this.ndots ? [key, ...searched] : [...searched, key];
  }

  /** Queries A and/or AAAA for one name. Throws the first server failure when no family answered. */
  private async queryName(name: string): Promise<{ addresses: ResolvedAddress[]; ttlMs: number } | { negative: string }> {
    const families: (4 | 6)[] = this.family === 0 ? [4, 6] : [this.family];
    const settled = await Promise.allSettled(
      families.map((f) => (f === 4 ? this.resolver.resolve4(name, { ttl: true }) : this.resolver.resolve6(name, { ttl: true }))),
    );
    const addresses: ResolvedAddress[] = [];
    let ttl = Infinity;
    let failure: unknown;
    let negative = 'ENODATA';
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') {
        for (const r of s.value) {
          addresses.push({ address: r.address, family: families[i]! });
          ttl = Math.min(ttl, r.ttl);
        }
      } else if (negativeCodes.has(errorCode(s.reason))) {
        if (errorCode(s.reason) === 'ENOTFOUND') negative = 'ENOTFOUND';
      } else {
        failure ??= s.reason;
      }
    });
    if (addresses.length > 0) return { addresses, ttlMs: ttl * 1000 };
    if (failure !== undefined) throw failure;
    return { negative };
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
