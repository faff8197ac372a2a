import { isIP } from 'node:net';
import { type OptionGroup, bool, custom, list, millis, num, oneOf, resolveGroup } from '../utils/option-table.js';
import { describe } from '../utils/validate.js';

/** DNS cache and resolver settings. All durations in milliseconds. */
export interface DnsOptions {
  /**
   * DNS servers, as `ip` or `ip:port` (`[v6]:port`). Default: the `nameserver` lines of `resolvConf`
   * (in a pod: the cluster DNS). Tests point this at their own server.
   */
  readonly servers?: readonly string[];
  /** Longest time an answer is cached, whatever its record TTL. Default 5000 (CoreDNS's default TTL). Range 0–86400000. */
  readonly maxTtl?: number;
  /** Shortest time an answer is cached, so TTL-0 records do not cause a query per request. Default 500. Range 0–86400000, at most `maxTtl`. */
  readonly minTtl?: number;
  /** How long the last good answer may still be served while DNS fails (timeouts, SERVFAIL, REFUSED). Default 60000. Range 0–86400000. */
  readonly staleTtl?: number;
  /** How long NXDOMAIN or an empty answer is cached. Default 1000. Range 0–86400000. */
  readonly negativeTtl?: number;
  /**
   * Shortest interval between two failure-triggered re-resolutions of one host. Default 500. Range 0–60000.
   * A name whose DNS fails (timeout, SERVFAIL, a bad reply) is re-queried at most once per 1–1.25 s (or
   * per `minTtl` if longer), whatever this says.
   */
  readonly reResolveInterval?: number;
  /**
   * Refresh an answer in use once 90 % of its TTL has passed, in the background, so requests never wait
   * for DNS when it expires (a new address is then seen up to 10 % of the TTL early). Default `true`.
   */
  readonly prefetch?: boolean;
  /** Per-try query timeout (rounded to whole milliseconds for c-ares). Default 500. Range 1–60000. */
  readonly timeout?: number;
  /** Query tries per server. Default 2. Range 1–10. */
  readonly tries?: number;
  /** Address families to resolve: 0 for both A and AAAA, 4 or 6 for one. Default 0. */
  readonly family?: 0 | 4 | 6;
  /** Most host names kept in the cache (least recently used go first). Default 1000. Range 1–1000000. */
  readonly maxHosts?: number;
  /** Search domains for short names. Default: the `search` line of `resolvConf`. */
  readonly search?: readonly string[];
  /** Names with fewer dots than this are tried with the search domains first. Default: `options ndots` of `resolvConf`, else 1. Range 0–15. */
  readonly ndots?: number;
  /** Path of the resolver configuration. Default `/etc/resolv.conf`. */
  readonly resolvConf?: string;
  /** Path of the hosts file, or `false` to ignore it. Default `/etc/hosts`. */
  readonly hostsFile?: string | false;
}

const day = 86_400_000;

/** The `dns` option's rules. @internal */
export const dnsOptions: OptionGroup<DnsOptions> = {
  table: {
    servers: list(isServer, 'IP addresses with an optional port 1–65535 ("127.0.0.1:5353", "[::1]:53")', undefined, 'DNS servers. In a pod: the cluster DNS.', {
      defaultText: 'resolv.conf `nameserver`',
      rangeText: '`ip` or `ip:port` (port 1–65535)',
    }),
    maxTtl: millis(0, day, 5_000, 'Longest time an answer is cached, whatever its record TTL (CoreDNS answers with TTL 5 by default, 30 in kubeadm).'),
    minTtl: millis(0, day, 500, 'Shortest cache time, so TTL-0 records do not cost a query per request.', { rangeText: '0–86400000, ≤ maxTtl' }),
    staleTtl: millis(
      0,
      day,
      60_000,
      'How long past its TTL the last good answer may still be served: while its refresh is slow, or while DNS times out or fails (SERVFAIL, REFUSED, a truncated or garbled reply); a `ridethrough:dns:stale` event says so.',
    ),
    negativeTtl: millis(0, day, 1_000, 'How long NXDOMAIN or an empty answer is cached.'),
    reResolveInterval: millis(
      0,
      60_000,
      500,
      'Shortest interval between two re-resolutions of one host triggered by failed addresses, so a dead service cannot cause a query storm. A host whose DNS itself fails is held longer (below).',
    ),
    prefetch: bool(
      true,
      'Refresh an answer in use once 90 % of its TTL has passed, in the background, so no request waits for DNS when the answer expires. One query per name per TTL, as without it; only names in use.',
    ),
    timeout: millis(1, 60_000, 500, 'Per-try query timeout (c-ares takes whole milliseconds).', { round: true, rangeText: '1–60000 (rounded to whole ms)' }),
    tries: num(1, 10, 2, 'Query tries per server (c-ares).', { integer: true }),
    family: oneOf([0, 4, 6], 0, 'Resolve A and AAAA (0), or one family.'),
    maxHosts: num(
      1,
      1_000_000,
      1_000,
      'Host names (and origins) kept; least recently used are evicted and their pools closed. Nothing is allocated up front.',
      { integer: true },
    ),
    search: list(
      (d) => typeof d === 'string' && d.length > 0,
      'domain names',
      undefined,
      "Search list for short names (`inventory` → `inventory.<ns>.svc.cluster.local`), as a pod's resolver does; `dns.resolve*` ignores it, ridethrough applies it.",
      {
        defaultText: 'resolv.conf `search`',
        rangeText: 'domain names',
      },
    ),
    ndots: num(0, 15, undefined, 'Names with fewer dots than this are tried with the search domains first.', {
      integer: true,
      defaultText: 'resolv.conf `ndots`, else 1',
    }),
    resolvConf: custom(checkPath, '/etc/resolv.conf', 'Where the resolver configuration is read from.', {
      defaultText: '`/etc/resolv.conf`',
      rangeText: 'file path',
    }),
    hostsFile: custom(checkHostsFile, '/etc/hosts', 'The hosts file, or `false` to ignore it.', {
      defaultText: '`/etc/hosts`',
      rangeText: 'file path or `false`',
    }),
  },
  relations: (d, path) => {
    if (d.minTtl > d.maxTtl) {
      throw new RangeError(`ridethrough: option "${path('minTtl')}" must be at most ${path('maxTtl')} (${d.maxTtl}), got ${d.minTtl}`);
    }
  },
};

/** DNS options with every default filled in (`servers`, `search` and `ndots` stay unset: resolv.conf gives them). */
export type ResolvedDnsOptions = Required<Omit<DnsOptions, 'servers' | 'search' | 'ndots'>> & Pick<DnsOptions, 'servers' | 'search' | 'ndots'>;

const resolved = new WeakSet<object>();

/**
 * Validates DNS options and fills in defaults; throws `TypeError`/`RangeError` naming the option. Options
 * it resolved already are returned as they are, so an agent's DNS cache does not check them twice.
 * @internal
 */
export function resolveDnsOptions(dns: DnsOptions | undefined): ResolvedDnsOptions {
  if (dns !== undefined && resolved.has(dns)) return dns as ResolvedDnsOptions;
  const out = resolveGroup<DnsOptions, ResolvedDnsOptions>(dnsOptions, dns, 'dns');
  resolved.add(out);
  return out;
}

/** The DNS defaults (see {@link DnsOptions}). */
export const dnsDefaults: Readonly<ResolvedDnsOptions> = Object.freeze(resolveDnsOptions(undefined));

function checkPath(path: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw new TypeError(`ridethrough: option "${path}" must be a file path string, got ${describe(value)}`);
}

function checkHostsFile(path: string, value: unknown): void {
  if (value !== undefined && value !== false && typeof value !== 'string') {
    throw new TypeError(`ridethrough: option "${path}" must be a file path string or false, got ${describe(value)}`);
  }
}

function isServer(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (isIP(value)) return true;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value);
  if (v6) return isIP(v6[1]!) === 6 && isPort(v6[2]!);
  const v4 = /^([^:]+):(\d{1,5})$/.exec(value);
  return v4 !== null && isIP(v4[1]!) === 4 && isPort(v4[2]!);
}

/** Port 0 is not a port a server listens on (Node would quietly use 53 instead). */
function isPort(digits: string): boolean {
  const port = Number(digits);
  return port >= 1 && port <= 65_535;
}
