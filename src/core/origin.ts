import { isIP } from 'node:net';

/** A request origin, parsed once and cached. @internal */
export interface ParsedOrigin {
  /** `http:` or `https:`. */
  readonly protocol: string;
  /** Host name or IP, without IPv6 brackets. */
  readonly hostname: string;
  /** The port number (default port filled in). */
  readonly port: number;
  /** The authority for the Host header (`name` or `name:port`, brackets for IPv6). */
  readonly host: string;
  /** `protocol//host:port`, the key for endpoint state. */
  readonly key: string;
}

const cache = new Map<string, ParsedOrigin>();
/** The last origin parsed: consecutive requests mostly share one. */
let lastText: string | undefined;
let lastParsed: ParsedOrigin | undefined;

/**
 * Parses a dispatch `origin` (string or URL).
 * @internal
 */
export function parseOrigin(origin: string | URL | undefined): ParsedOrigin {
  if (origin === undefined) throw new TypeError('ridethrough: the request has no origin');
  const text = typeof origin === 'string' ? origin : origin.origin;
  if (text === lastText) return lastParsed!;
  const hit = cache.get(text);
  if (hit) {
    lastText = text;
    lastParsed = hit;
    return hit;
  }
  const url = typeof origin === 'string' ? new URL(origin) : origin;
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const parsed: ParsedOrigin = {
    protocol: url.protocol,
    hostname,
    port,
    host: url.host,
    key: `${url.protocol}//${urlHost(hostname)}:${port}`,
  };
  if (cache.size > 1000) cache.clear();
  cache.set(text, parsed);
  return parsed;
}

/** `ip` as it goes in a URL authority (brackets for IPv6). @internal */
export function urlHost(ip: string): string {
  return isIP(ip) === 6 ? `[${ip}]` : ip;
}
