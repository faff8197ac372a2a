import type { Endpoint } from './endpoint.js';

/** How an endpoint is chosen among the candidates. */
export type BalancerKind = 'p2c' | 'round-robin';

/**
 * Round-robin, or power of two choices on requests in flight, over the candidates it is given. The
 * rotation counter is shared by every call, so successive requests spread over the endpoints.
 * @internal
 */
export class Balancer {
  private turn = 0;

  /**
   * @param kind - `p2c` or `round-robin`
   */
  constructor(private readonly kind: BalancerKind) {}

  /** Picks one of `list` (not empty). */
  choose(list: readonly Endpoint[]): Endpoint {
    const n = list.length;
    const i = this.turn % n;
    // Kept a small integer: a counter past 2^30 would become a boxed number.
    this.turn = this.turn === 0x3fffffff ? 0 : this.turn + 1;
    if (this.kind === 'round-robin' || n === 1) return list[i]!;
    return twoChoices(list, i);
  }
}

/**
 * Power of two choices on requests in flight: the endpoint next in rotation (`list[i]`) against one
 * other picked at random; fewer requests in flight wins, and a tie goes to the rotation's. Under even
 * load this is round-robin, which spreads requests, and so connections, evenly; a slow or stuck
 * endpoint, whose requests pile up, loses every comparison it is drawn into.
 */
function twoChoices(list: readonly Endpoint[], i: number): Endpoint {
  let j = Math.floor(Math.random() * (list.length - 1));
  if (j >= i) j++;
  const a = list[i]!;
  const b = list[j]!;
  return b.inFlight < a.inFlight ? b : a;
}
