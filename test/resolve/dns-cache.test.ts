/**
 * DnsCache against the real UDP DnsServer: record TTLs and their bounds, shared queries, failure-
 * triggered re-resolution, stale answers during DNS outages, negative caching, the pod resolver's
 * search list and ndots, the hosts file, IP literals, address families, the LRU bound and validation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DnsResolutionError } from '../../src/errors/errors.js';
import { channelNames, type ResolveEvent, type StaleEvent } from '../../src/events/channels.js';
import { ResilienceContext } from '../../src/core/context.js';
import { DnsCache } from '../../src/resolve/dns-cache.js';
import { monotonicNow } from '../../src/timing/clock.js';
import { parseOrigin as parseOriginForTest } from '../../src/core/origin.js';
import type { DnsOptions } from '../../src/resolve/dns-options.js';
import { useDnsFixture } from './support/dns-fixture.js';

/** Caches pointed at the test server only (no resolv.conf search list, no /etc/hosts). */
const { server, cache, record, track } = useDnsFixture('127.0.19.53');
let tmp = '';

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rt-dns-cache-'));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<DnsResolutionError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DnsResolutionError);
  return err as DnsResolutionError;
}

function addresses(answer: { addresses: readonly { address: string }[] }): string[] {
  return answer.addresses.map((a) => a.address);
}

describe('TTLs', () => {
  it('keeps an answer for its record TTL (1 s), then queries again', async () => {
    server.setRecords('ttl1.test', { a: ['127.0.8.1'], ttl: 1 });
    const c = cache();
    const first = await c.resolve('ttl1.test');
    expect(first).toMatchObject({ hostname: 'ttl1.test', source: 'dns', stale: false });
    expect(addresses(first)).toEqual(['127.0.8.1']);
    expect(first.expiresAt - first.fetchedAt).toBe(1_000);

    await c.resolve('ttl1.test');
    await c.resolve('TTL1.test');
    expect(server.queryCount('ttl1.test')).toBe(1);

    server.setRecords('ttl1.test', { a: ['127.0.8.2'], ttl: 1 });
    await sleep(1_100);
    const second = await c.resolve('ttl1.test');
    expect(server.queryCount('ttl1.test')).toBe(2);
    expect(addresses(second)).toEqual(['127.0.8.2']);
  });

  it('clamps a long TTL (60 s) to maxTtl', async () => {
    server.setRecords('ttl60.test', { a: ['127.0.8.3'], ttl: 60 });
    const c = cache({ maxTtl: 400, minTtl: 100 });
    const answer = await c.resolve('ttl60.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(400);
    await sleep(500);
    await c.resolve('ttl60.test');
    expect(server.queryCount('ttl60.test')).toBe(2);
  });

  it('the default maxTtl is 5 s (CoreDNS default TTL)', async () => {
    server.setRecords('ttl-default.test', { a: ['127.0.8.3'], ttl: 30 });
    const answer = await cache().resolve('ttl-default.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(5_000);
  });

  it('raises a TTL of 0 to minTtl, so a zero TTL does not mean a query per request', async () => {
    server.setRecords('ttl0.test', { a: ['127.0.8.4'], ttl: 0 });
    const c = cache({ minTtl: 300 });
    const answer = await c.resolve('ttl0.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(300);
    await Promise.all([c.resolve('ttl0.test'), c.resolve('ttl0.test')]);
    expect(server.queryCount('ttl0.test')).toBe(1);
  });
});

describe('sharing and re-resolution', () => {
  it('concurrent resolves of one name share one query', async () => {
    server.setRecords('shared.test', { a: ['127.0.8.5'] });
    server.setDelay(50);
    const c = cache();
    const all = Array.from({ length: 10 }, () => c.resolve('shared.test'));
    expect(c.pending('shared.test')).toBeDefined();
    const answers = await Promise.all(all);
    expect(server.queryCount('shared.test')).toBe(1);
    expect(new Set(answers).size).toBe(1);
    expect(c.pending('shared.test')).toBeUndefined();
  });

  it('with family 0, one resolution is one A and one AAAA query', async () => {
    server.setRecords('both.test', { a: ['127.0.8.6'] });
    const c = cache({ family: 0 });
    await Promise.all([c.resolve('both.test'), c.resolve('both.test')]);
    expect(server.queries.map((q) => q.type).sort()).toEqual(['A', 'AAAA']);
  });

  it('reportFailure re-resolves at once, bypassing the TTL, but at most once per reResolveInterval', async () => {
    server.setRecords('moved.test', { a: ['127.0.8.7'], ttl: 30 });
    const c = cache({ maxTtl: 30_000, reResolveInterval: 400 });
    const resolves = record<ResolveEvent>(channelNames.resolve);
    await c.resolve('moved.test');

    // Just queried: rate-limited.
    expect(c.reportFailure('moved.test')).toBeUndefined();
    expect(server.queryCount('moved.test')).toBe(1);

    // The pod moved; DNS knows, the cached answer (30 s) does not.
    server.setRecords('moved.test', { a: ['127.0.8.8'], ttl: 30 });
    await sleep(450);
    const refresh = c.reportFailure('moved.test');
    expect(refresh).toBeDefined();
    expect(c.pending('moved.test')).toBe(refresh);
    // A second report while the refresh runs joins it.
    expect(c.reportFailure('moved.test')).toBe(refresh);
    expect(addresses(await refresh!)).toEqual(['127.0.8.8']);
    expect(server.queryCount('moved.test')).toBe(2);
    expect(addresses(await c.resolve('moved.test'))).toEqual(['127.0.8.8']);
    expect(resolves.events.map((e) => e.message.trigger)).toEqual(['miss', 'failure']);

    // A burst of failures right after: no query storm.
    for (let i = 0; i < 20; i++) expect(c.reportFailure('moved.test')).toBeUndefined();
    expect(server.queryCount('moved.test')).toBe(2);
    await sleep(450);
    await c.reportFailure('moved.test');
    expect(server.queryCount('moved.test')).toBe(3);
  });

  it('reportFailure does nothing for names never resolved, IP literals and hosts-file names', async () => {
    const hosts = join(tmp, 'hosts-report');
    writeFileSync(hosts, '127.0.8.60 fixed.test\n');
    const c = cache({ hostsFile: hosts });
    expect(c.reportFailure('unknown.test')).toBeUndefined();
    await c.resolve('127.0.8.61');
    expect(c.reportFailure('127.0.8.61')).toBeUndefined();
    await c.resolve('fixed.test');
    expect(c.reportFailure('fixed.test')).toBeUndefined();
    expect(server.queryCount()).toBe(0);
  });
});

describe('DNS outages', () => {
  it('serves the last good answer when DNS stops answering, and publishes ridethrough:dns:stale', async () => {
    server.setRecords('outage.test', { a: ['127.0.8.9', '127.0.8.10'] });
    const c = cache({ maxTtl: 200, minTtl: 100, timeout: 100, tries: 1 });
    const stale = record<StaleEvent>(channelNames.stale);
    const good = await c.resolve('outage.test');

    server.pause();
    await sleep(250);
    // Just expired: the previous answer is used at once if DNS is slow (after 25 ms), and the refresh goes on.
    expect(addresses(await c.resolve('outage.test'))).toEqual(['127.0.8.9', '127.0.8.10']);
    await c.pending('outage.test')?.catch(() => {});
    const served = await c.resolve('outage.test');
    expect(served.stale).toBe(true);
    expect(addresses(served)).toEqual(['127.0.8.9', '127.0.8.10']);
    expect(served.fetchedAt).toBe(good.fetchedAt);
    expect(server.queryCount('outage.test')).toBeGreaterThanOrEqual(2);
    // First the refresh was slow (the previous answer served while it ran), then it failed.
    expect(stale.events.map((e) => e.message.refreshing)).toEqual([true, undefined]);
    for (const e of stale.events) {
      expect(e.message).toMatchObject({ hostname: 'outage.test', addresses: ['127.0.8.9', '127.0.8.10'], error: 'ETIMEOUT' });
      expect(e.message.ageMs).toBeGreaterThanOrEqual(250);
    }

    // Known to be failing: later calls get the stale answer at once (refreshing in the background).
    const t = performance.now();
    expect((await c.resolve('outage.test')).stale).toBe(true);
    expect(performance.now() - t).toBeLessThan(100);

    // DNS back: a fresh answer replaces the stale one within about a second (the stale entry's lifetime).
    server.resume();
    const resumedAt = Date.now();
    let latest = served;
    while (latest.stale && Date.now() - resumedAt < 3_000) {
      await sleep(50);
      latest = await c.resolve('outage.test');
    }
    expect(latest.stale).toBe(false);
    expect(addresses(latest)).toEqual(['127.0.8.9', '127.0.8.10']);
    expect(latest.fetchedAt).toBeGreaterThanOrEqual(resumedAt);
  });

  it('SERVFAIL and REFUSED also fall back to the stale answer', async () => {
    server.setRecords('servfail.test', { a: ['127.0.8.11'] });
    server.setRecords('refused.test', { a: ['127.0.8.12'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    const stale = record<StaleEvent>(channelNames.stale);
    await c.resolve('servfail.test');
    await c.resolve('refused.test');
    await sleep(150);
    server.setMode('servfail');
    await c.resolve('servfail.test');
    await c.pending('servfail.test')?.catch(() => {});
    expect(await c.resolve('servfail.test')).toMatchObject({ stale: true });
    server.setMode('refused');
    await c.resolve('refused.test');
    await c.pending('refused.test')?.catch(() => {});
    expect(await c.resolve('refused.test')).toMatchObject({ stale: true });
    const failed = stale.events.filter((e) => !e.message.refreshing);
    expect(failed.map((e) => [e.message.hostname, e.message.error])).toEqual([
      ['servfail.test', 'ESERVFAIL'],
      ['refused.test', 'EREFUSED'],
    ]);
  });

  it('serves a stale answer for at most staleTtl after it was last good', async () => {
    server.setRecords('bounded.test', { a: ['127.0.8.13'] });
    const c = cache({ maxTtl: 200, minTtl: 100, staleTtl: 600, timeout: 100, tries: 1 });
    const good = await c.resolve('bounded.test');
    server.pause();
    await sleep(300);
    await c.resolve('bounded.test');
    await c.pending('bounded.test')?.catch(() => {});
    expect(await c.resolve('bounded.test')).toMatchObject({ stale: true });

    // Past fetchedAt + maxTtl + staleTtl (800 ms): DNS still down, nothing good left to serve.
    await sleep(Math.max(0, good.fetchedAt + 850 - Date.now()));
    const err = await rejection(c.resolve('bounded.test'));
    expect(err.code).toBe('RIDETHROUGH_DNS');
    expect(err.dnsCode).toBe('ETIMEOUT');
    expect(err.retryable).toBe(true);
  });

  it('with nothing cached, a DNS failure is a retryable DnsResolutionError', async () => {
    server.setMode('servfail');
    const err = await rejection(cache().resolve('cold.test'));
    expect(err).toMatchObject({ code: 'RIDETHROUGH_DNS', dnsCode: 'ESERVFAIL', retryable: true, hostname: 'cold.test' });
  });

  it('close() cancels queries in flight', async () => {
    server.pause();
    const c = cache({ timeout: 5_000, tries: 1 });
    const p = c.resolve('cancelled.test');
    const t = performance.now();
    c.close();
    const err = await rejection(p);
    expect(err.dnsCode).toBe('ECANCELLED');
    expect(performance.now() - t).toBeLessThan(1_000);
  });
});

describe('failing DNS: bounded queries', () => {
  it('a name never resolved whose DNS answers SERVFAIL: one query per failure hold, however many resolve it', async () => {
    server.setMode('servfail');
    const c = cache({ family: 0 });
    const resolves = record<ResolveEvent>(channelNames.resolve);

    // A burst: one shared query (A and AAAA), one typed error for everyone.
    const burst = await Promise.all(Array.from({ length: 100 }, () => rejection(c.resolve('failing.test'))));
    expect(new Set(burst).size).toBe(1);
    expect(burst[0]).toMatchObject({ dnsCode: 'ESERVFAIL', retryable: true });
    expect(server.queryCount('failing.test')).toBe(2);

    // Requests right after (a retry loop): the failure is cached, no query.
    for (let i = 0; i < 100; i++) expect(await rejection(c.resolve('failing.test'))).toBe(burst[0]);
    expect(server.queryCount('failing.test')).toBe(2);
    expect(c.peek('failing.test')).toBeUndefined();

    // Past the hold (1–1.25 s): one query again.
    await sleep(1_300);
    const again = await rejection(c.resolve('failing.test'));
    expect(again).not.toBe(burst[0]);
    expect(server.queryCount('failing.test')).toBe(4);
    expect(resolves.events.map((e) => e.message.error)).toEqual(['ESERVFAIL', 'ESERVFAIL']);
  });

  it('a silent DNS (timeouts) is held the same way', async () => {
    server.pause();
    const c = cache({ timeout: 100, tries: 1 });
    const first = await rejection(c.resolve('silent.test'));
    expect(first).toMatchObject({ dnsCode: 'ETIMEOUT', retryable: true });
    expect(server.queryCount('silent.test')).toBe(1);
    for (let i = 0; i < 50; i++) expect(await rejection(c.resolve('silent.test'))).toBe(first);
    expect(server.queryCount('silent.test')).toBe(1);
  });

  it('reportFailure does not re-query a name in its failure hold; the stale answer is served meanwhile', async () => {
    server.setRecords('held.test', { a: ['127.0.8.70'] });
    const c = cache({ maxTtl: 100, minTtl: 100, reResolveInterval: 0 });
    await c.resolve('held.test');
    server.setMode('servfail');
    await sleep(150);
    await c.resolve('held.test');
    await c.pending('held.test')?.catch(() => {});
    expect(await c.resolve('held.test')).toMatchObject({ stale: true });
    expect(server.queryCount('held.test')).toBe(2);
    for (let i = 0; i < 20; i++) expect(c.reportFailure('held.test')).toBeUndefined();
    expect(server.queryCount('held.test')).toBe(2);
  });
});

describe('stale-while-revalidate', () => {
  it('a slow refresh: the previous answer is served at once once the refresh is slow, and the changed answer from when it lands', async () => {
    server.setRecords('swr.test', { a: ['127.0.8.40'] });
    // A query timeout above the server's delay: the slow answer is awaited, not retried.
    const c = cache({ maxTtl: 200, minTtl: 100, timeout: 5_000, tries: 1 });
    const stale = record<StaleEvent>(channelNames.stale);
    const first = await c.resolve('swr.test');
    server.setRecords('swr.test', { a: ['127.0.8.41'] });
    server.setDelay(800);
    await sleep(250);

    // Expired: the refresh is slower than the grace, so the previous answer is served and the refresh goes on.
    expect(await c.resolve('swr.test')).toBe(first);
    const refresh = c.pending('swr.test');
    expect(refresh).toBeDefined();
    // From then on the previous answer comes before the refresh lands: no request waits for it.
    for (let i = 0; i < 20; i++) {
      const winner = await Promise.race([c.resolve('swr.test').then((a) => (a === first ? 'previous' : 'other')), refresh!.then(() => 'refresh')]);
      expect(winner).toBe('previous');
    }
    expect(c.pending('swr.test')).toBe(refresh);
    expect(server.queryCount('swr.test')).toBe(2);
    expect(stale.events).toHaveLength(1);
    expect(stale.events[0]!.message).toMatchObject({ hostname: 'swr.test', addresses: ['127.0.8.40'], error: 'ETIMEOUT', refreshing: true });

    // The refresh lands: its (changed) answer is used at once.
    expect(addresses(await refresh!)).toEqual(['127.0.8.41']);
    const latest = await c.resolve('swr.test');
    expect(addresses(latest)).toEqual(['127.0.8.41']);
    expect(latest.stale).toBe(false);
    expect(server.queryCount('swr.test')).toBe(2);
    expect(stale.events).toHaveLength(1);
  });

  it('a refresh that answers within the grace is what the caller gets: no stale answer, no stale event', async () => {
    server.setRecords('quick.test', { a: ['127.0.8.42'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    const stale = record<StaleEvent>(channelNames.stale);
    await c.resolve('quick.test');
    server.setRecords('quick.test', { a: ['127.0.8.43'] });
    await sleep(150);
    expect(addresses(await c.resolve('quick.test'))).toEqual(['127.0.8.43']);
    expect(stale.events).toEqual([]);
  });
});

describe('revalidate', () => {
  it('queries at once, bypassing the TTL and reResolveInterval; joins a query in flight', async () => {
    server.setRecords('reval.test', { a: ['127.0.8.44'], ttl: 30 });
    const c = cache({ maxTtl: 30_000, reResolveInterval: 60_000 });
    const resolves = record<ResolveEvent>(channelNames.resolve);
    await c.resolve('reval.test');
    server.setRecords('reval.test', { a: ['127.0.8.45'], ttl: 30 });

    const p = c.revalidate('reval.test');
    expect(p).toBeDefined();
    expect(c.revalidate('REVAL.test')).toBe(p);
    expect(c.pending('reval.test')).toBe(p);
    expect(c.reportFailure('reval.test')).toBe(p);
    expect(addresses(await p!)).toEqual(['127.0.8.45']);
    expect(addresses(await c.resolve('reval.test'))).toEqual(['127.0.8.45']);
    expect(server.queryCount('reval.test')).toBe(2);

    // reportFailure is rate-limited; revalidate is not (its caller is).
    expect(c.reportFailure('reval.test')).toBeUndefined();
    await c.revalidate('reval.test');
    expect(server.queryCount('reval.test')).toBe(3);
    expect(resolves.events.map((e) => e.message.trigger)).toEqual(['miss', 'failure', 'failure']);
  });

  it('on DNS failure serves the last good answer (stale); on a failing name it waits for the end of the failure hold', async () => {
    server.setRecords('reval-stale.test', { a: ['127.0.8.46'] });
    const c = cache();
    const good = await c.resolve('reval-stale.test');
    server.setMode('servfail');
    const served = await c.revalidate('reval-stale.test')!;
    expect(served).toMatchObject({ stale: true, fetchedAt: good.fetchedAt });
    expect(addresses(served)).toEqual(['127.0.8.46']);
    expect(await c.resolve('reval-stale.test')).toBe(served);

    const failed = await rejection(c.resolve('reval-cold.test'));
    expect(server.queryCount('reval-cold.test')).toBe(1);
    // In the hold: no query, however often waiting requests ask.
    expect(c.revalidate('reval-cold.test')).toBeUndefined();
    expect(server.queryCount('reval-cold.test')).toBe(1);
    expect(await rejection(c.resolve('reval-cold.test'))).toBe(failed);
  });

  it('returns undefined, without throwing, for IP literals, hosts-file names, unknown names and a closed cache', async () => {
    const hosts = join(tmp, 'hosts-revalidate');
    writeFileSync(hosts, '127.0.8.47 fixed-reval.test\n');
    server.setRecords('reval-closed.test', { a: ['127.0.8.48'] });
    const c = cache({ hostsFile: hosts });
    await c.resolve('127.0.8.49');
    await c.resolve('fixed-reval.test');
    await c.resolve('reval-closed.test');
    expect(c.revalidate('127.0.8.49')).toBeUndefined();
    expect(c.revalidate('fixed-reval.test')).toBeUndefined();
    expect(c.revalidate('never-asked.test')).toBeUndefined();
    expect(c.revalidate(undefined as unknown as string)).toBeUndefined();
    c.close();
    expect(c.revalidate('reval-closed.test')).toBeUndefined();
    expect(server.queryCount()).toBe(1);
  });
});

describe('prefetch: an answer in use is refreshed before it expires', () => {
  /** Polls until `check` holds (generous: a mechanism, not a timing, is under test). */
  async function until(check: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 3_000;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  it('a resolve in the last 10 % of the TTL serves the cached answer and refreshes in the background; the new address arrives before the old answer expires', async () => {
    server.setRecords('prefetch.test', { a: ['127.0.8.40'], ttl: 1 });
    const c = cache();
    const resolves = record<ResolveEvent>(channelNames.resolve);
    const first = await c.resolve('prefetch.test');
    server.setRecords('prefetch.test', { a: ['127.0.8.41'], ttl: 1 });
    // Not due yet (before 90 % of 1 s): cached, no query.
    await sleep(700);
    expect(addresses(await c.resolve('prefetch.test'))).toEqual(['127.0.8.40']);
    expect(server.queryCount('prefetch.test')).toBe(1);
    // Due: the cached answer at once, and one query in the background.
    await sleep(Math.max(0, first.fetchedAt + 920 - Date.now()));
    expect(addresses(await c.resolve('prefetch.test'))).toEqual(['127.0.8.40']);
    await c.pending('prefetch.test');
    expect(server.queryCount('prefetch.test')).toBe(2);
    const refreshed = await c.resolve('prefetch.test');
    expect(addresses(refreshed)).toEqual(['127.0.8.41']);
    expect(refreshed.fetchedAt).toBeLessThan(first.expiresAt);
    expect(resolves.events.map((e) => e.message.trigger)).toEqual(['miss', 'prefetch']);
  });

  it('requests that keep using a name never wait for an expired answer: every refresh is a prefetch', async () => {
    server.setRecords('steady.test', { a: ['127.0.8.42'], ttl: 1 });
    const c = cache();
    const resolves = record<ResolveEvent>(channelNames.resolve);
    const started = Date.now();
    while (Date.now() - started < 2_600) {
      await c.resolve('steady.test');
      await sleep(20);
    }
    const triggers = resolves.events.map((e) => e.message.trigger);
    expect(triggers[0]).toBe('miss');
    expect(triggers.slice(1).length).toBeGreaterThanOrEqual(2);
    expect(new Set(triggers.slice(1))).toEqual(new Set(['prefetch']));
    // One query per TTL, as without prefetching (about 2.6 s / 0.9 s, plus the first).
    expect(server.queryCount('steady.test')).toBeLessThanOrEqual(5);
  });

  it('the hot path of a request (the context) starts the prefetch too, once per TTL', async () => {
    server.setRecords('ctx-prefetch.test', { a: ['127.0.8.43'], ttl: 1 });
    const ctx = new ResilienceContext({ dns: { servers: [server.server], search: [], hostsFile: false, family: 4 } });
    try {
      const resolves = record<ResolveEvent>(channelNames.resolve);
      const origin = { hostname: 'ctx-prefetch.test' };
      await ctx.dns.resolve('ctx-prefetch.test');
      const state = ctx.originFor(parseOriginForTest('http://ctx-prefetch.test:80'));
      const started = Date.now();
      let served = 0;
      while (Date.now() - started < 1_500) {
        if (ctx.freshAnswer(state, origin.hostname, monotonicNow()) !== undefined) served++;
        await sleep(5);
      }
      await until(() => resolves.events.length >= 2, 'the prefetch');
      expect(resolves.events[1]!.message.trigger).toBe('prefetch');
      // The answer was there for every read: none of them found it expired.
      expect(served).toBeGreaterThan(100);
      expect(resolves.events.some((e) => e.message.trigger === 'expired')).toBe(false);
    } finally {
      ctx.close();
    }
  });

  it('a failed prefetch leaves the answer fresh (not stale) until it expires, and is not retried before then', async () => {
    server.setRecords('prefetch-fail.test', { a: ['127.0.8.44'], ttl: 1 });
    const c = cache({ timeout: 50, tries: 1 });
    const stale = record<StaleEvent>(channelNames.stale);
    const first = await c.resolve('prefetch-fail.test');
    server.setMode('servfail');
    await sleep(Math.max(0, first.fetchedAt + 920 - Date.now()));
    await c.resolve('prefetch-fail.test');
    await c.pending('prefetch-fail.test')?.catch(() => {});
    expect(server.queryCount('prefetch-fail.test')).toBe(2);
    const after = await c.resolve('prefetch-fail.test');
    expect(after.stale).toBe(false);
    expect(after.fetchedAt).toBe(first.fetchedAt);
    expect(stale.events).toHaveLength(0);
    expect(server.queryCount('prefetch-fail.test')).toBe(2);
    // Expired: the usual path (a refresh, then the last good answer served as stale).
    await sleep(Math.max(0, first.expiresAt + 20 - Date.now()));
    const expired = await c.resolve('prefetch-fail.test');
    await c.pending('prefetch-fail.test')?.catch(() => {});
    expect(addresses(expired)).toEqual(['127.0.8.44']);
    expect((await c.resolve('prefetch-fail.test')).stale).toBe(true);
    expect(server.queryCount('prefetch-fail.test')).toBe(3);
  });

  it('prefetch: false waits for the expiry', async () => {
    server.setRecords('no-prefetch.test', { a: ['127.0.8.45'], ttl: 1 });
    const c = cache({ prefetch: false });
    const first = await c.resolve('no-prefetch.test');
    await sleep(Math.max(0, first.fetchedAt + 950 - Date.now()));
    await c.resolve('no-prefetch.test');
    expect(c.pending('no-prefetch.test')).toBeUndefined();
    expect(server.queryCount('no-prefetch.test')).toBe(1);
  });
});

describe('negative answers', () => {
  it('caches NXDOMAIN for negativeTtl, as a non-retryable error for a name never seen', async () => {
    const c = cache({ negativeTtl: 300 });
    const first = await rejection(c.resolve('nx.test'));
    expect(first).toMatchObject({ code: 'RIDETHROUGH_DNS', dnsCode: 'ENOTFOUND', retryable: false });
    const second = await rejection(c.resolve('nx.test'));
    expect(second).toBe(first);
    expect(server.queryCount('nx.test')).toBe(1);

    // The name appears: found once the negative entry expires.
    server.setRecords('nx.test', { a: ['127.0.8.14'] });
    await sleep(350);
    expect(addresses(await c.resolve('nx.test'))).toEqual(['127.0.8.14']);
    expect(server.queryCount('nx.test')).toBe(2);
  });

  it('a name that resolved before and now has no address is retryable (a headless service between pods)', async () => {
    server.setRecords('headless.test', { a: ['127.0.8.15'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    await c.resolve('headless.test');
    server.setRecords('headless.test', { a: [] });
    await sleep(150);
    const err = await rejection(c.resolve('headless.test'));
    expect(err).toMatchObject({ dnsCode: 'ENODATA', retryable: true });
    expect(c.peek('headless.test')).toBeUndefined();
  });

  it('a name with only AAAA records has no address for family 4 (ENODATA)', async () => {
    server.setRecords('v6only.test', { aaaa: ['fd00::8:1'] });
    const err = await rejection(cache({ family: 4 }).resolve('v6only.test'));
    expect(err.dnsCode).toBe('ENODATA');
  });
});

describe('search list and ndots, as in a pod', () => {
  const search = ['ns.svc.cluster.local', 'svc.cluster.local'];

  it('resolves a short name through the first search domain (ndots 5)', async () => {
    server.setRecords('inventory.ns.svc.cluster.local', { a: ['127.0.8.16'] });
    const c = cache({ search, ndots: 5 });
    const answer = await c.resolve('inventory');
    expect(answer.hostname).toBe('inventory');
    expect(addresses(answer)).toEqual(['127.0.8.16']);
    expect(server.queries.map((q) => q.name)).toEqual(['inventory.ns.svc.cluster.local']);
  });

  it('tries the search domains in order, then the name as given', async () => {
    server.setRecords('catalog.other.svc.cluster.local', { a: ['127.0.8.17'] });
    server.setRecords('external.example.test', { a: ['127.0.8.18'] });
    const c = cache({ search, ndots: 5 });
    expect(addresses(await c.resolve('catalog.other'))).toEqual(['127.0.8.17']);
    expect(server.queries.map((q) => q.name)).toEqual(['catalog.other.ns.svc.cluster.local', 'catalog.other.svc.cluster.local']);

    server.clearLog();
    // Fewer than 5 dots: every search domain first (the well-known ndots:5 cost), the name last.
    expect(addresses(await c.resolve('external.example.test'))).toEqual(['127.0.8.18']);
    expect(server.queries.map((q) => q.name)).toEqual([
      'external.example.test.ns.svc.cluster.local',
      'external.example.test.svc.cluster.local',
      'external.example.test',
    ]);
  });

  it('a name with at least ndots dots is tried as given first', async () => {
    server.setRecords('external.example.test', { a: ['127.0.8.18'] });
    const c = cache({ search, ndots: 2 });
    expect(addresses(await c.resolve('external.example.test'))).toEqual(['127.0.8.18']);
    expect(server.queries.map((q) => q.name)).toEqual(['external.example.test']);
  });

  it('an absolute name (trailing dot) skips the search list', async () => {
    server.setRecords('inventory.ns.svc.cluster.local', { a: ['127.0.8.16'] });
    const c = cache({ search, ndots: 5 });
    const answer = await c.resolve('inventory.ns.svc.cluster.local.');
    expect(answer.hostname).toBe('inventory.ns.svc.cluster.local.');
    expect(server.queries.map((q) => q.name)).toEqual(['inventory.ns.svc.cluster.local']);
  });

  it('NXDOMAIN everywhere is ENOTFOUND after trying every candidate', async () => {
    const c = cache({ search, ndots: 5 });
    const err = await rejection(c.resolve('nowhere'));
    expect(err.dnsCode).toBe('ENOTFOUND');
    expect(server.queries.map((q) => q.name)).toEqual(['nowhere.ns.svc.cluster.local', 'nowhere.svc.cluster.local', 'nowhere']);
  });

  it('reads search, ndots and nameserver from a resolv.conf', async () => {
    const conf = join(tmp, 'resolv.conf');
    writeFileSync(conf, `nameserver ${server.address}\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n`);
    server.setRecords('inventory.ns.svc.cluster.local', { a: ['127.0.8.16'] });
    // The server line needs the port, so servers stays explicit; search and ndots come from the file.
    const c = new DnsCache({ servers: [server.server], resolvConf: conf, hostsFile: false, family: 4 });
    track(c);
    expect(addresses(await c.resolve('inventory'))).toEqual(['127.0.8.16']);
    expect(server.queries.map((q) => q.name)).toEqual(['inventory.ns.svc.cluster.local']);
  });
});

describe('answers without DNS', () => {
  it('answers from the hosts file without a query, for every family', async () => {
    const hosts = join(tmp, 'hosts');
    writeFileSync(hosts, '# test hosts\n127.0.8.50  hosted.test alias.test\n::1 hosted.test\n\n127.0.8.51 Other.Test # comment\n');
    const both = cache({ hostsFile: hosts, family: 0 });
    const answer = await both.resolve('hosted.test');
    expect(answer).toMatchObject({ source: 'hosts', stale: false, expiresAt: Infinity });
    expect(answer.addresses).toEqual([
      { address: '127.0.8.50', family: 4 },
      { address: '::1', family: 6 },
    ]);
    expect(addresses(await both.resolve('alias.test'))).toEqual(['127.0.8.50']);
    expect(addresses(await both.resolve('other.test'))).toEqual(['127.0.8.51']);
    expect(addresses(await cache({ hostsFile: hosts, family: 6 }).resolve('hosted.test'))).toEqual(['::1']);
    expect(addresses(await cache({ hostsFile: hosts, family: 4 }).resolve('hosted.test'))).toEqual(['127.0.8.50']);
    expect(server.queryCount()).toBe(0);
  });

  it('hostsFile: false ignores the hosts file', async () => {
    const hosts = join(tmp, 'hosts-ignored');
    writeFileSync(hosts, '127.0.8.52 ignored.test\n');
    server.setRecords('ignored.test', { a: ['127.0.8.53'] });
    expect(addresses(await cache({ hostsFile: false }).resolve('ignored.test'))).toEqual(['127.0.8.53']);
  });

  it('answers IP literals as they are, without a query', async () => {
    const c = cache({ family: 0 });
    expect(await c.resolve('127.0.8.54')).toMatchObject({
      hostname: '127.0.8.54',
      source: 'literal',
      addresses: [{ address: '127.0.8.54', family: 4 }],
      expiresAt: Infinity,
    });
    expect(await c.resolve('[::1]')).toMatchObject({ hostname: '::1', source: 'literal', addresses: [{ address: '::1', family: 6 }] });
    expect(await c.resolve('::1')).toMatchObject({ source: 'literal' });
    expect(server.queryCount()).toBe(0);
  });
});

describe('address families', () => {
  beforeEach(() => {
    server.setRecords('dual.test', { a: ['127.0.8.20', '127.0.8.21'], aaaa: ['fd00::8:20'] });
  });

  it('family 0 returns IPv4 first, then IPv6', async () => {
    const answer = await cache({ family: 0 }).resolve('dual.test');
    expect(answer.addresses).toEqual([
      { address: '127.0.8.20', family: 4 },
      { address: '127.0.8.21', family: 4 },
      { address: 'fd00::8:20', family: 6 },
    ]);
  });

  it('family 4 asks for A only, family 6 for AAAA only', async () => {
    expect(addresses(await cache({ family: 4 }).resolve('dual.test'))).toEqual(['127.0.8.20', '127.0.8.21']);
    expect(server.queries.map((q) => q.type)).toEqual(['A']);
    server.clearLog();
    expect(addresses(await cache({ family: 6 }).resolve('dual.test'))).toEqual(['fd00::8:20']);
    expect(server.queries.map((q) => q.type)).toEqual(['AAAA']);
  });

  it('uses the smallest TTL of the records', async () => {
    server.setRecords('ttls.test', { a: ['127.0.8.22'], aaaa: ['fd00::8:22'], ttl: 1 });
    const answer = await cache({ family: 0 }).resolve('ttls.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(1_000);
  });
});

describe('bounds and validation', () => {
  it('keeps at most maxHosts names, evicting the least recently used', async () => {
    for (const n of ['lru-a', 'lru-b', 'lru-c']) server.setRecords(`${n}.test`, { a: ['127.0.8.30'] });
    const c = cache({ maxHosts: 2 });
    await c.resolve('lru-a.test');
    await c.resolve('lru-b.test');
    await c.resolve('lru-a.test'); // a is now more recent than b
    await c.resolve('lru-c.test');
    expect(c.size).toBe(2);
    expect(c.peek('lru-b.test')).toBeUndefined();
    expect(c.peek('lru-a.test')).toBeDefined();
    expect(c.peek('lru-c.test')).toBeDefined();
    // An evicted name costs a query again.
    await c.resolve('lru-b.test');
    expect(server.queryCount('lru-b.test')).toBe(2);
    expect(server.queryCount('lru-a.test')).toBe(1);
  });

  it('maxHosts: 1e6 allocates nothing up front, in the DNS cache and the per-origin state', () => {
    // Collect first, so the deltas measure what construction keeps, not garbage collected meanwhile.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const retained = (): number => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const dns = { servers: [server.server], search: [], hostsFile: false as const, maxHosts: 1_000_000 };
    const before = retained();
    const kept = Array.from({ length: 4 }, () => cache(dns));
    const afterCaches = retained();
    const contexts = Array.from({ length: 4 }, () => new ResilienceContext({ dns }));
    const afterContexts = retained();
    for (const ctx of contexts) ctx.close();
    // A preallocated million-slot LRU keeps about 28 MB; four of each would be over 100 MB.
    expect(afterCaches - before).toBeLessThan(4 * 1024 * 1024);
    expect(afterContexts - afterCaches).toBeLessThan(4 * 1024 * 1024);
    expect(kept).toHaveLength(4);
  });

  it('accepts every value in the documented ranges (a fractional timeout is rounded for c-ares)', async () => {
    server.setRecords('fraction.test', { a: ['127.0.8.55'] });
    expect(addresses(await cache({ timeout: 500.5 }).resolve('fraction.test'))).toEqual(['127.0.8.55']);
    const edges: DnsOptions[] = [
      { timeout: 1 },
      { timeout: 1.2 },
      { timeout: 60_000 },
      { timeout: 59_999.9 },
      { tries: 1 },
      { tries: 10 },
      { maxTtl: 86_400_000, minTtl: 86_400_000 },
      { maxTtl: 0.5, minTtl: 0.25 },
      { staleTtl: 0 },
      { staleTtl: 1.5 },
      { negativeTtl: 86_400_000 },
      { reResolveInterval: 0 },
      { reResolveInterval: 60_000 },
      { maxHosts: 1 },
      { ndots: 15 },
      { family: 0 },
      { family: 4 },
      { servers: ['127.0.0.1:1', '127.0.0.1:65535', '[::1]:65535'] },
    ];
    for (const ok of edges) expect(() => cache(ok), JSON.stringify(ok)).not.toThrow();
  });

  it('rejects invalid options with errors that name the option', () => {
    const bad: [DnsOptions, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp][] = [
      [{ maxTtl: -1 }, RangeError, /"dns\.maxTtl"/],
      [{ maxTtl: 'soon' as unknown as number }, TypeError, /"dns\.maxTtl"/],
      [{ minTtl: 2_000, maxTtl: 1_000 }, RangeError, /"dns\.minTtl".*maxTtl/],
      [{ staleTtl: Number.NaN }, TypeError, /"dns\.staleTtl"/],
      [{ negativeTtl: 86_400_001 }, RangeError, /"dns\.negativeTtl"/],
      [{ reResolveInterval: 60_001 }, RangeError, /"dns\.reResolveInterval"/],
      [{ timeout: 0 }, RangeError, /"dns\.timeout"/],
      [{ tries: 1.5 }, RangeError, /"dns\.tries"/],
      [{ family: 5 as 4 }, RangeError, /"dns\.family"/],
      [{ maxHosts: 0 }, RangeError, /"dns\.maxHosts"/],
      [{ ndots: 16 }, RangeError, /"dns\.ndots"/],
      [{ servers: ['not-an-ip'] }, TypeError, /"dns\.servers"/],
      [{ servers: ['127.0.0.1:70000'] }, TypeError, /"dns\.servers"/],
      [{ servers: ['127.0.0.1:0'] }, TypeError, /"dns\.servers"/],
      [{ servers: ['[::1]:0'] }, TypeError, /"dns\.servers"/],
      [{ timeout: 60_000.5 }, RangeError, /"dns\.timeout"/],
      [{ servers: '127.0.0.1' as unknown as string[] }, TypeError, /"dns\.servers"/],
      [{ search: [''] }, TypeError, /"dns\.search"/],
      [{ resolvConf: 42 as unknown as string }, TypeError, /"dns\.resolvConf"/],
      [{ hostsFile: true as unknown as false }, TypeError, /"dns\.hostsFile"/],
      [{ maxTTL: 5 } as unknown as DnsOptions, TypeError, /"dns\.maxTTL"/],
    ];
    for (const [options, type, message] of bad) {
      expect(() => new DnsCache(options), JSON.stringify(options)).toThrow(type);
      expect(() => new DnsCache(options), JSON.stringify(options)).toThrow(message);
    }
    expect(() => new DnsCache(null as unknown as DnsOptions)).toThrow(TypeError);
    // Valid edge values are accepted.
    for (const ok of [
      { servers: ['127.0.0.1', '127.0.0.1:53', '[::1]:5353'] },
      { maxTtl: 0, minTtl: 0 },
      { family: 6 as const },
      { ndots: 0 },
      { hostsFile: false as const },
    ]) {
      track(new DnsCache({ hostsFile: false, ...ok }));
    }
  });
});
