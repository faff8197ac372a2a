import type { EndpointSet } from '../endpoints/endpoint-set.js';
import type { DnsAnswer, ResolvedAddress } from '../resolve/dns-cache.js';

/** The addresses of one answer, in the order a lookup hands them out. @internal */
export interface Arranged {
  /** Addresses in rotation, rotated one step per call. */
  readonly healthy: ResolvedAddress[];
  /** Ejected addresses, the one back soonest first. */
  readonly ejected: ResolvedAddress[];
}

/**
 * Round-robin over the healthy addresses of each host, so connections made through a lookup spread
 * over every address; ejected addresses are kept apart, as a last resort. Bounded: the turn counters
 * are forgotten past 10000 hosts.
 * @internal
 */
export class AddressRotation {
  private readonly turns = new Map<string, number>();

  /**
   * Reconciles `set` with `answer` and splits its addresses of `family` (0 for any) into healthy
   * (rotated) and ejected ones.
   */
  arrange(set: EndpointSet, answer: DnsAnswer, family: 0 | 4 | 6, now: number): Arranged {
    set.update(answer);
    const healthy: ResolvedAddress[] = [];
    const ejected: { a: ResolvedAddress; until: number }[] = [];
    for (const a of answer.addresses) {
      if (family !== 0 && a.family !== family) continue;
      const e = set.endpoints.get(a.address);
      if (e?.isEjected(now)) ejected.push({ a, until: e.ejectedUntil });
      else healthy.push(a);
    }
    const turn = this.turns.get(answer.hostname) ?? 0;
    if (this.turns.size >= 10_000) this.turns.clear();
    this.turns.set(answer.hostname, turn + 1);
    const start = healthy.length === 0 ? 0 : turn % healthy.length;
    return {
      healthy: [...healthy.slice(start), ...healthy.slice(0, start)],
      ejected: ejected.sort((x, y) => x.until - y.until).map((x) => x.a),
    };
  }
}
