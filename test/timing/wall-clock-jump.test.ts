/**
 * A wall clock that jumps (NTP stepping it, a VM resumed) must not change what ridethrough decides: DNS
 * TTLs, ejections and the breaker's open time run on the monotonic clock. Each test steps `Date.now()`
 * back an hour (the wall clock only; the monotonic clock and timers run on) and checks that the
 * mechanism still ends on time. A real DNS server on UDP loopback for the cache.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EndpointSet, type EndpointSetSettings } from '../../src/endpoints/endpoint-set.js';
import { breakerOptions, OriginBreaker } from '../../src/health/circuit-breaker.js';
import type { DnsAnswer } from '../../src/resolve/dns-cache.js';
import { monotonicNow } from '../../src/timing/clock.js';
import { resolveGroup } from '../../src/utils/option-table.js';
import { useDnsFixture } from '../resolve/support/dns-fixture.js';

const { server, cache } = useDnsFixture('127.0.161.53');
const hour = 3_600_000;

/** From now on, `Date.now()` reads an hour earlier (or later, with `by` positive). */
function stepWallClock(by: number): void {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() + by);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a wall clock stepped back an hour', () => {
  it('does not keep a DNS answer fresh past its TTL', async () => {
    server.setRecords('jump.test', { a: ['127.0.8.60'], ttl: 1 });
    const c = cache({ prefetch: false });
    await c.resolve('jump.test');
    stepWallClock(-hour);
    server.setRecords('jump.test', { a: ['127.0.8.61'], ttl: 1 });
    await sleep(1_100);
    const answer = await c.resolve('jump.test');
    expect(server.queryCount('jump.test')).toBe(2);
    expect(answer.addresses.map((a) => a.address)).toEqual(['127.0.8.61']);
  });

  it('does not keep an ejected endpoint out of rotation past its ejection', async () => {
    const settings: EndpointSetSettings = {
      ejection: { baseTime: 100, maxTime: 1_000, maxPercent: 50, consecutiveFailures: 5 },
      balancer: 'round-robin',
      reResolveWhileWaiting: 10_000,
    };
    const set = new EndpointSet('h', settings, () => {});
    const answer: DnsAnswer = {
      hostname: 'h',
      addresses: [
        { address: 'a', family: 4 },
        { address: 'b', family: 4 },
      ],
      source: 'dns',
      fetchedAt: Date.now(),
      expiresAt: Infinity,
      stale: false,
    };
    set.update(answer);
    expect(set.failed(set.endpoints.get('a')!, 'connect', 'ECONNREFUSED', monotonicNow())).toBe(true);
    const picks = (): string[] => [1, 2, 3, 4].map(() => set.pickFirst()!.address.address);
    expect(picks()).toEqual(['b', 'b', 'b', 'b']);
    stepWallClock(-hour);
    // The ejection lasts 100–150 ms (jittered); well after it, 'a' is back in the rotation.
    await sleep(400);
    expect(picks()).toContain('a');
    set.room.close();
  });

  it('does not keep a circuit breaker open past halfOpenAfter', async () => {
    const breaker = new OriginBreaker('http://jump.test:80', resolveGroup(breakerOptions, { threshold: 1, halfOpenAfter: 200 }, 'breaker'));
    const ticket = breaker.acquire()!;
    breaker.release(ticket, 'unhealthy');
    expect(breaker.state).toBe('open');
    expect(breaker.acquire()).toBeUndefined();
    stepWallClock(-hour);
    await sleep(300);
    expect(breaker.acquire()).toBeDefined();
    expect(breaker.state).toBe('half-open');
  });

  it('a wall clock stepped forward does not expire a fresh DNS answer early', async () => {
    server.setRecords('jump-forward.test', { a: ['127.0.8.62'], ttl: 5 });
    const c = cache();
    await c.resolve('jump-forward.test');
    stepWallClock(hour);
    await c.resolve('jump-forward.test');
    expect(server.queryCount('jump-forward.test')).toBe(1);
  });
});
