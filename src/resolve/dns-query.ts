import type { Resolver } from 'node:dns/promises';
import type { ResolvedAddress } from './dns-cache.js';

/** What one resolution found: addresses with the smallest TTL, or a negative answer's code. @internal */
export type QueryResult = { addresses: ResolvedAddress[]; ttlMs: number } | { negative: string };

const negativeCodes = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Tries the names a pod's resolver would, in its order (the search list and `ndots`); the first with
 * addresses wins. Throws the first server failure when no name answered either way.
 * @internal
 */
export async function queryWithSearch(resolver: Resolver, key: string, search: readonly string[], ndots: number, family: 0 | 4 | 6): Promise<QueryResult> {
  let negative: string | undefined;
  for (const name of candidates(key, search, ndots)) {
    const r = await queryName(resolver, name, family);
    if ('addresses' in r) return r;
    negative = r.negative === 'ENOTFOUND' || negative === 'ENOTFOUND' ? 'ENOTFOUND' : r.negative;
  }
  return { negative: negative ?? 'ENOTFOUND' };
}

/** The names tried for `key`, in order. */
function candidates(key: string, search: readonly string[], ndots: number): string[] {
  if (key.endsWith('.') || search.length === 0) return [key];
  const dots = key.split('.').length - 1;
  const searched = search.map((domain) => `${key}.${domain}`);
  return dots >= ndots ? [key, ...searched] : [...searched, key];
}

/** Queries A and/or AAAA for one name. Throws the first server failure when no family answered. */
async function queryName(resolver: Resolver, name: string, family: 0 | 4 | 6): Promise<QueryResult> {
  const families: (4 | 6)[] = family === 0 ? [4, 6] : [family];
  const settled = await Promise.allSettled(families.map((f) => (f === 4 ? resolver.resolve4(name, { ttl: true }) : resolver.resolve6(name, { ttl: true }))));
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

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}
