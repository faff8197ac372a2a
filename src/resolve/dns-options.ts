import { isIP } from 'node:net';
import { checkArray, checkKnownKeys, checkNumber, checkObject, checkOneOf } from '../utils/validate.js';

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

/** Default DNS settings (see {@link DnsOptions}). */
export const dnsDefaults = {
  maxTtl: 5_000,
  minTtl: 500,
  staleTtl: 60_000,
  negativeTtl: 1_000,
  reResolveInterval: 500,
  timeout: 500,
  tries: 2,
  family: 0,
  maxHosts: 1_000,
  resolvConf: '/etc/resolv.conf',
  hostsFile: '/etc/hosts',
} as const;

const day = 86_400_000;

/**
 * Validates DNS options; throws `TypeError`/`RangeError` naming the option.
 * @internal
 */
export function validateDnsOptions(dns: DnsOptions | undefined): void {
  if (dns === undefined) return;
  checkObject('dns', dns);
  checkKnownKeys('dns', dns, ['servers', 'maxTtl', 'minTtl', 'staleTtl', 'negativeTtl', 'reResolveInterval', 'timeout', 'tries', 'family', 'maxHosts', 'search', 'ndots', 'resolvConf', 'hostsFile']);
  checkArray('dns.servers', dns.servers, isServer, 'IP addresses with an optional port 1–65535 ("127.0.0.1:5353", "[::1]:53")');
  checkNumber('dns.maxTtl', dns.maxTtl, 0, day, { unit: 'milliseconds' });
  checkNumber('dns.minTtl', dns.minTtl, 0, day, { unit: 'milliseconds' });
  if ((dns.minTtl ?? dnsDefaults.minTtl) > (dns.maxTtl ?? dnsDefaults.maxTtl)) {
    throw new RangeError(`ridethrough: option "dns.minTtl" must be at most dns.maxTtl (${dns.maxTtl ?? dnsDefaults.maxTtl}), got ${dns.minTtl ?? dnsDefaults.minTtl}`);
  }
  checkNumber('dns.staleTtl', dns.staleTtl, 0, day, { unit: 'milliseconds' });
  checkNumber('dns.negativeTtl', dns.negativeTtl, 0, day, { unit: 'milliseconds' });
  checkNumber('dns.reResolveInterval', dns.reResolveInterval, 0, 60_000, { unit: 'milliseconds' });
  checkNumber('dns.timeout', dns.timeout, 1, 60_000, { unit: 'milliseconds' });
  checkNumber('dns.tries', dns.tries, 1, 10, { integer: true });
  checkOneOf('dns.family', dns.family, [0, 4, 6]);
  checkNumber('dns.maxHosts', dns.maxHosts, 1, 1_000_000, { integer: true });
  checkArray('dns.search', dns.search, (s) => typeof s === 'string' && s.length > 0, 'domain names');
  checkNumber('dns.ndots', dns.ndots, 0, 15, { integer: true });
  if (dns.resolvConf !== undefined && typeof dns.resolvConf !== 'string') {
    throw new TypeError('ridethrough: option "dns.resolvConf" must be a file path string');
  }
  if (dns.hostsFile !== undefined && dns.hostsFile !== false && typeof dns.hostsFile !== 'string') {
    throw new TypeError('ridethrough: option "dns.hostsFile" must be a file path string or false');
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
