/** One host's endpoints on their own: selection, the waiting room's triggers and silence detection, no sockets. */
import { describe, expect, it } from 'vitest';
import type { InFlightAttempt } from '../../src/endpoints/endpoint.js';
import { EndpointSet, type EndpointSetSettings } from '../../src/endpoints/endpoint-set.js';
import { currentEndpoints } from '../../src/endpoints/selection.js';
import type { WakeReason } from '../../src/endpoints/waiting-room.js';
import type { DnsAnswer } from '../../src/resolve/dns-cache.js';
import { plus, type MonotonicMs, monotonicNow } from '../../src/timing/clock.js';

/** A time on the monotonic clock (the silence tests use small made-up times). */
const at = (ms: number): MonotonicMs => ms as MonotonicMs;

const settings: EndpointSetSettings = {
  ejection: { baseTime: 10_000, maxTime: 120_000, maxPercent: 50, consecutiveFailures: 5 },
  balancer: 'round-robin',
  reResolveWhileWaiting: 10_000,
};

function answer(...addresses: string[]): DnsAnswer {
  return { hostname: 'h', addresses: addresses.map((address) => ({ address, family: 4 })), source: 'dns', fetchedAt: 0, expiresAt: Infinity, stale: false };
}

function setOf(...addresses: string[]): EndpointSet {
  const set = new EndpointSet('h', settings, () => {});
  set.update(answer(...addresses));
  return set;
}

/** An attempt in flight, as an endpoint links it. */
function attempt(startedAt: number, lost: string[]): InFlightAttempt {
  return { startedAt: at(startedAt), inFlightPrev: undefined, inFlightNext: undefined, endpointLost: (reason) => lost.push(reason) };
}

describe('selection', () => {
  it('prefers an endpoint not tried, then a healthy one but the last, then (pick only) the least bad ejected one', () => {
    const set = setOf('a', 'b');
    const now = monotonicNow();
    expect(set.pick(['a'], 'a', now)?.address.address).toBe('b');
    expect(set.pickUntried(['a', 'b'], now)).toBeUndefined();
    expect(set.pickUsable(['a', 'b'], 'a', now)?.address.address).toBe('b');
    set.failed(set.endpoints.get('a')!, 'connect', 'ECONNREFUSED', now);
    set.failed(set.endpoints.get('b')!, 'connect', 'ECONNREFUSED', now);
    expect(set.pickUsable(['a', 'b'], 'b', now)).toBeUndefined();
    expect(set.pick(['a', 'b'], 'b', now)?.address.address).toBe('a');
  });

  it('round-robin over the endpoints for first attempts', () => {
    const set = setOf('a', 'b', 'c');
    expect([1, 2, 3, 4, 5, 6].map(() => set.pickFirst()!.address.address)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });
});

describe('the order a lookup hands addresses out', () => {
  it('rotates the healthy addresses one step per call, ejected ones last (back soonest first)', () => {
    const set = setOf('a', 'b', 'c', 'd');
    const now = monotonicNow();
    set.failed(set.endpoints.get('d')!, 'connect', 'ECONNREFUSED', now);
    set.failed(set.endpoints.get('b')!, 'connect', 'ECONNREFUSED', now);
    set.endpoints.get('b')!.ejectedUntil = plus(now, 1_000);
    set.endpoints.get('d')!.ejectedUntil = plus(now, 500);
    const order = () => set.ordered(0, now).map((a) => a.address);
    expect([order(), order(), order(), order()]).toEqual([
      ['a', 'c', 'd', 'b'],
      ['c', 'a', 'd', 'b'],
      ['a', 'c', 'd', 'b'],
      ['c', 'a', 'd', 'b'],
    ]);
  });

  it('keeps to one family when asked, and says when every address of it is ejected', () => {
    const set = new EndpointSet('h', settings, () => {});
    set.update({
      ...answer('10.0.0.1'),
      addresses: [
        { address: '10.0.0.1', family: 4 },
        { address: 'fd00::1', family: 6 },
      ],
    });
    const now = monotonicNow();
    expect(set.ordered(6, now).map((a) => a.address)).toEqual(['fd00::1']);
    set.failed(set.endpoints.get('fd00::1')!, 'connect', 'ECONNREFUSED', now);
    expect(set.allEjected(6, now)).toBe(true);
    expect(set.allEjected(4, now)).toBe(false);
    expect(set.allEjected(0, now)).toBe(false);
    expect(new EndpointSet('h', settings, () => {}).allEjected(0, now)).toBe(false);
  });
});

describe('currentEndpoints: resolve, reconcile, and wait for the refresh only when stuck', () => {
  it('waits for the answer in flight when the caller has nowhere to go, not otherwise', async () => {
    const set = setOf();
    let refresh: ((a: DnsAnswer) => void) | undefined;
    const pending = new Promise<DnsAnswer>((r) => (refresh = r));
    const source = { resolve: async () => answer('a'), pending: () => pending };
    await currentEndpoints(source, set, () => false);
    expect([...set.endpoints.keys()]).toEqual(['a']);
    const stuck = currentEndpoints(source, set, () => true);
    refresh!(answer('a', 'b'));
    await stuck;
    expect([...set.endpoints.keys()]).toEqual(['a', 'b']);
  });

  it('keeps the answer it has when the refresh fails, and rejects with the reason when aborted', async () => {
    const set = setOf();
    const source = { resolve: async () => answer('a'), pending: () => Promise.reject(new Error('SERVFAIL')) };
    await currentEndpoints(source, set, () => true);
    expect([...set.endpoints.keys()]).toEqual(['a']);
    const aborted = AbortSignal.abort(new Error('caller gave up'));
    await expect(currentEndpoints(source, set, () => true, aborted)).rejects.toThrow('caller gave up');
    // A lookup that fails after its caller gave up is nobody's unhandled rejection.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const failing = { resolve: () => new Promise<DnsAnswer>((_, reject) => setTimeout(() => reject(new Error('SERVFAIL')), 5)), pending: () => undefined };
      await expect(currentEndpoints(failing, set, () => false, aborted)).rejects.toThrow('caller gave up');
      await new Promise((r) => setTimeout(r, 30));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('what releases the waiting room', () => {
  function parked(set: EndpointSet): WakeReason[] {
    const woken: WakeReason[] = [];
    set.park({ wake: (r) => woken.push(r) });
    return woken;
  }

  it('a DNS answer that adds an address; not one that only keeps or removes addresses', () => {
    const set = setOf('a', 'b');
    const woken = parked(set);
    set.update(answer('a'));
    set.update(answer('a', 'b'));
    expect(woken).toEqual(['dns']);
    set.room.close();
  });

  it('a success of an endpoint that had been failing; not a success of a healthy one', () => {
    const set = setOf('a', 'b');
    const woken = parked(set);
    set.succeeded(set.endpoints.get('b')!);
    expect(woken).toEqual([]);
    set.failed(set.endpoints.get('a')!, 'connect', 'ECONNREFUSED', monotonicNow());
    set.succeeded(set.endpoints.get('a')!);
    expect(woken).toEqual(['restored']);
    expect(set.endpoints.get('a')!.isEjected(monotonicNow())).toBe(false);
    set.room.close();
  });
});

describe('silence', () => {
  it('an endpoint whose oldest attempt waited past the threshold while a peer answered is ejected as silent, and its attempts are told', () => {
    const set = setOf('a', 'b', 'c');
    const [a, b] = [set.endpoints.get('a')!, set.endpoints.get('b')!];
    const lost: string[] = [];
    a.link(attempt(100, lost));
    a.link(attempt(150, lost));
    b.lastAnsweredAt = at(200);
    // Not old enough yet.
    expect(set.checkSilence(at(250), 200, () => 200)).toBe(true);
    expect(lost).toEqual([]);
    expect(set.checkSilence(at(301), 200, () => 200)).toBe(true);
    expect(lost).toEqual(['silent', 'silent']);
    expect(a.isEjected(at(302))).toBe(true);
    expect(a.ejectedFor).toBe('silent');
  });

  it('not when the endpoint answered since its oldest attempt started (a slow request), nor when no peer did (maybe the whole service is slow)', () => {
    const set = setOf('a', 'b');
    const [a, b] = [set.endpoints.get('a')!, set.endpoints.get('b')!];
    const lost: string[] = [];
    a.link(attempt(100, lost));
    a.lastAnsweredAt = at(120);
    b.lastAnsweredAt = at(500);
    set.checkSilence(at(1_000), 200, () => 200);
    expect(lost).toEqual([]);
    const c = setOf('x', 'y');
    c.endpoints.get('x')!.link(attempt(100, lost));
    c.endpoints.get('y')!.lastAnsweredAt = at(50);
    c.checkSilence(at(1_000), 200, () => 200);
    expect(lost).toEqual([]);
  });

  it('the threshold (a percentile of recent latencies) is asked only once an attempt has waited past the floor', () => {
    const set = setOf('a', 'b');
    const lost: string[] = [];
    set.endpoints.get('a')!.link(attempt(100, lost));
    set.endpoints.get('b')!.lastAnsweredAt = at(150);
    let asked = 0;
    const threshold = (): number => {
      asked++;
      return 400;
    };
    expect(set.checkSilence(at(250), 200, threshold)).toBe(true);
    expect(asked).toBe(0);
    expect(set.checkSilence(at(350), 200, threshold)).toBe(true);
    expect(asked).toBe(1);
    expect(lost).toEqual([]);
    expect(set.checkSilence(at(501), 200, threshold)).toBe(true);
    expect(lost).toEqual(['silent']);
  });

  it('unlinking keeps the in-flight list in start order', () => {
    const set = setOf('a');
    const e = set.endpoints.get('a')!;
    const lost: string[] = [];
    const [x, y, z] = [attempt(1, lost), attempt(2, lost), attempt(3, lost)];
    e.link(x);
    e.link(y);
    e.link(z);
    e.unlink(x);
    expect(e.oldest).toBe(y);
    e.unlink(z);
    e.unlink(z);
    expect(e.oldest).toBe(y);
    e.unlink(y);
    expect(e.oldest).toBeUndefined();
  });
});
