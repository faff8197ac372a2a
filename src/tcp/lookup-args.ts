import type { LookupOptions } from 'node:dns';

/** Node `lookup` options, normalised. @internal */
export interface LookupRequest {
  /** 0 for any family, else 4 or 6. */
  readonly family: 0 | 4 | 6;
  /** Return every address (`callback(null, [{ address, family }])`) rather than one. */
  readonly all: boolean;
  /** Order of the answer: `verbatim` (ridethrough's rotation), or one family first. */
  readonly order: 'verbatim' | 'ipv4first' | 'ipv6first';
}

/**
 * Normalises the `options` argument of a Node `lookup` call: a family number, or an object with
 * `family` (0, 4, 6, 'IPv4', 'IPv6'), `all`, `hints` (ignored), `order` and the older `verbatim`.
 * Throws `TypeError` on values Node's `dns.lookup` also rejects.
 * @internal
 */
export function parseLookupArgs(options: unknown): LookupRequest {
  if (options === undefined || options === null) return { family: 0, all: false, order: 'verbatim' };
  if (typeof options === 'number') return { family: toFamily(options), all: false, order: 'verbatim' };
  if (typeof options !== 'object') throw new TypeError(`ridethrough: lookup options must be a family number or an object, got ${typeof options}`);
  const o = options as LookupOptions & { order?: unknown };
  let order: LookupRequest['order'] = 'verbatim';
  if (o.order !== undefined) {
    if (o.order !== 'verbatim' && o.order !== 'ipv4first' && o.order !== 'ipv6first') {
      throw new TypeError(`ridethrough: lookup option "order" must be "verbatim", "ipv4first" or "ipv6first", got ${String(o.order)}`);
    }
    order = o.order;
  } else if (o.verbatim === false) {
    order = 'ipv4first';
  }
  return { family: toFamily(o.family), all: o.all === true, order };
}

function toFamily(value: unknown): 0 | 4 | 6 {
  if (value === undefined || value === null || value === 0) return 0;
  if (value === 4 || value === 'IPv4') return 4;
  if (value === 6 || value === 'IPv6') return 6;
  throw new TypeError(`ridethrough: lookup option "family" must be 0, 4 or 6, got ${String(value)}`);
}
