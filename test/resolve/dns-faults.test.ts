/**
 * DNS fault matrix: DnsCache against the real UDP DnsServer on loopback, one fault at a time. Each
 * case asserts what callers get (an answer, the last good answer marked stale, or a typed
 * DnsResolutionError) and how many queries reached the server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DnsResolutionError } from '../../src/errors/errors.js';
import { channelNames, type ResolveEvent, type StaleEvent } from '../../src/events/channels.js';
import type { DnsAnswer, DnsCache } from '../../src/resolve/dns-cache.js';
import { useDnsFixture } from './support/dns-fixture.js';

/** Short timeouts so a silent server costs little; tries 2 as by default. */
const { server, cache, record } = useDnsFixture('127.0.37.53', { timeout: 100, tries: 2 });

/** The rejection of `p`, which must be a DnsResolutionError (never an untyped error, never a success). */
async function rejection(p: Promise<unknown>): Promise<DnsResolutionError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  expect(outcome).toHaveProperty('error');
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(DnsResolutionError);
  return error as DnsResolutionError;
}

function addresses(answer: DnsAnswer): string[] {
  return answer.addresses.map((a) => a.address);
}

/** Server failures: what each looks like to c-ares, and the most queries one resolution sends (family 4, tries 2). */
const serverFaults = [
  { fault: 'SERVFAIL', start: () => server.setMode('servfail'), dnsCode: 'ESERVFAIL', maxQueries: 1 },
  { fault: 'REFUSED', start: () => server.setMode('refused'), dnsCode: 'EREFUSED', maxQueries: 1 },
  { fault: 'silence (timeout)', start: () => server.pause(), dnsCode: 'ETIMEOUT', maxQueries: 2 },
  // TC set: c-ares retries over TCP, where nothing listens.
  { fault: 'truncated reply', start: () => server.setMode('truncated'), dnsCode: 'ECONNREFUSED', maxQueries: 1 },
  { fault: 'garbage reply', start: () => server.setMode('garbage'), dnsCode: 'EBADRESP', maxQueries: 2 },
] as const;

describe.each(serverFaults)('$fault', ({ start, dnsCode, maxQueries }) => {
  it('a name never resolved: a retryable DnsResolutionError, cached for the failure hold (no query per request)', async () => {
    start();
    const c = cache();
    const first = await rejection(c.resolve('cold.fault.test'));
    expect(first).toMatchObject({ code: 'RIDETHROUGH_DNS', dnsCode, retryable: true, hostname: 'cold.fault.test' });
    const perResolution = server.queryCount('cold.fault.test');
    expect(perResolution).toBeGreaterThanOrEqual(1);
    expect(perResolution).toBeLessThanOrEqual(maxQueries);
    for (let i = 0; i < 20; i++) expect(await rejection(c.resolve('cold.fault.test'))).toBe(first);
    expect(server.queryCount('cold.fault.test')).toBe(perResolution);
  });

  it('a name with an expired answer: the last good answer, marked stale and published, then no query until the hold ends', async () => {
    server.setRecords('known.fault.test', { a: ['127.0.37.1', '127.0.37.2'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    const stale = record<StaleEvent>(channelNames.stale);
    const good = await c.resolve('known.fault.test');
    start();
    await sleep(150);
    await c.resolve('known.fault.test');
    await c.pending('known.fault.test')?.catch(() => {});
    const served = await c.resolve('known.fault.test');
    expect(served).toMatchObject({ stale: true, fetchedAt: good.fetchedAt });
    expect(addresses(served)).toEqual(['127.0.37.1', '127.0.37.2']);
    const failed = stale.events.filter((e) => !e.message.refreshing);
    expect(failed.map((e) => e.message.error)).toEqual([dnsCode]);
    const queries = server.queryCount('known.fault.test');
    expect(queries).toBeLessThanOrEqual(1 + maxQueries);
    for (let i = 0; i < 20; i++) expect(await c.resolve('known.fault.test')).toBe(served);
    expect(c.reportFailure('known.fault.test')).toBeUndefined();
    expect(server.queryCount('known.fault.test')).toBe(queries);
  });
});

describe('authoritative answers', () => {
  it('NXDOMAIN: ENOTFOUND, not retryable for a name never seen, cached for negativeTtl', async () => {
    const c = cache({ negativeTtl: 5_000 });
    const err = await rejection(c.resolve('nx.fault.test'));
    expect(err).toMatchObject({ dnsCode: 'ENOTFOUND', retryable: false });
    expect(await rejection(c.resolve('nx.fault.test'))).toBe(err);
    expect(server.queryCount('nx.fault.test')).toBe(1);
  });

  it('empty answer (NODATA): ENODATA, not retryable for a name never seen, cached for negativeTtl', async () => {
    server.setRecords('empty.fault.test', { a: [] });
    const c = cache({ negativeTtl: 5_000 });
    const err = await rejection(c.resolve('empty.fault.test'));
    expect(err).toMatchObject({ dnsCode: 'ENODATA', retryable: false });
    expect(await rejection(c.resolve('empty.fault.test'))).toBe(err);
    expect(server.queryCount('empty.fault.test')).toBe(1);
  });

  it('TTL 0 is raised to minTtl: repeated resolves share one query', async () => {
    server.setRecords('ttl0.fault.test', { a: ['127.0.37.3'], ttl: 0 });
    const c = cache({ minTtl: 2_000 });
    const answer = await c.resolve('ttl0.fault.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(2_000);
    for (let i = 0; i < 20; i++) expect(await c.resolve('ttl0.fault.test')).toBe(answer);
    expect(server.queryCount('ttl0.fault.test')).toBe(1);
  });

  it('TTL 1 h is lowered to maxTtl', async () => {
    server.setRecords('ttl1h.fault.test', { a: ['127.0.37.4'], ttl: 3_600 });
    const c = cache({ maxTtl: 5_000 });
    const answer = await c.resolve('ttl1h.fault.test');
    expect(answer.expiresAt - answer.fetchedAt).toBe(5_000);
  });

  it('CNAME chain: the final addresses, with the smallest TTL along the chain, in one query', async () => {
    server.setRecords('target.fault.test', { a: ['127.0.37.5', '127.0.37.6'], ttl: 30 });
    server.setRecords('middle.fault.test', { cname: 'target.fault.test', ttl: 2 });
    server.setRecords('alias.fault.test', { cname: 'middle.fault.test', ttl: 10 });
    const answer = await cache({ maxTtl: 60_000 }).resolve('alias.fault.test');
    expect(answer).toMatchObject({ hostname: 'alias.fault.test', source: 'dns', stale: false });
    expect(addresses(answer)).toEqual(['127.0.37.5', '127.0.37.6']);
    expect(answer.expiresAt - answer.fetchedAt).toBe(2_000);
    expect(server.queries.map((q) => q.name)).toEqual(['alias.fault.test']);
  });

  it('AAAA only: family 0 gets the IPv6 addresses, family 4 ENODATA', async () => {
    server.setRecords('v6.fault.test', { aaaa: ['fd00::37:1', 'fd00::37:2'] });
    const both = await cache({ family: 0 }).resolve('v6.fault.test');
    expect(both.addresses).toEqual([
      { address: 'fd00::37:1', family: 6 },
      { address: 'fd00::37:2', family: 6 },
    ]);
    expect(await rejection(cache({ family: 4 }).resolve('v6.fault.test'))).toMatchObject({ dnsCode: 'ENODATA' });
  });

  it('an answer that changes between two resolves: the new addresses once the TTL is over', async () => {
    server.setRecords('moving.fault.test', { a: ['127.0.37.7'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    const before = await c.resolve('moving.fault.test');
    server.setRecords('moving.fault.test', { a: ['127.0.37.8', '127.0.37.9'] });
    expect(await c.resolve('moving.fault.test')).toBe(before);
    await sleep(150);
    const after = await c.resolve('moving.fault.test');
    expect(addresses(after)).toEqual(['127.0.37.8', '127.0.37.9']);
    expect(addresses(before)).toEqual(['127.0.37.7']);
    expect(server.queryCount('moving.fault.test')).toBe(2);
  });
});

describe('blips and storms', () => {
  /** Resolves `name` every 20 ms until it answers (at most 6 s); every failure on the way must be typed. */
  async function resolveUntilAnswered(
    c: DnsCache,
    name: string,
    onFailure: (n: number) => void,
  ): Promise<{ answer: DnsAnswer; failures: DnsResolutionError[] }> {
    const failures: DnsResolutionError[] = [];
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      const outcome = await c.resolve(name).then(
        (answer) => ({ answer }),
        (error: unknown) => ({ error }),
      );
      if ('answer' in outcome) return { answer: outcome.answer, failures };
      expect(outcome.error).toBeInstanceOf(DnsResolutionError);
      failures.push(outcome.error as DnsResolutionError);
      onFailure(failures.length);
      await sleep(20);
    }
    throw new Error(`${name} never resolved`);
  }

  it('a blip on a name never resolved: typed retryable errors meanwhile, then the answer; queries bounded by the hold', async () => {
    server.setRecords('blip.fault.test', { a: ['127.0.37.10'] });
    server.setMode('servfail');
    const c = cache();
    const resolves = record<ResolveEvent>(channelNames.resolve);
    const started = Date.now();
    // DNS comes back after the second failed query (the first hold passed).
    const { answer, failures } = await resolveUntilAnswered(c, 'blip.fault.test', () => {
      if (server.queryCount('blip.fault.test') >= 2) server.setMode('normal');
    });
    const elapsedS = (Date.now() - started) / 1_000;
    expect(addresses(answer)).toEqual(['127.0.37.10']);
    expect(failures.length).toBeGreaterThan(2);
    for (const f of failures) expect(f).toMatchObject({ dnsCode: 'ESERVFAIL', retryable: true });
    // Many more resolves than queries: one per hold of at least a second.
    expect(resolves.events.map((e) => e.message.error)).toEqual(['ESERVFAIL', 'ESERVFAIL', undefined]);
    expect(server.queryCount('blip.fault.test')).toBe(3);
    expect(server.queryCount('blip.fault.test')).toBeLessThanOrEqual(1 + elapsedS);
    expect(await c.resolve('blip.fault.test')).toBe(answer);
  });

  it('a blip on a known name: the stale answer meanwhile, then a fresh one', async () => {
    server.setRecords('blip-known.fault.test', { a: ['127.0.37.11'] });
    const c = cache({ maxTtl: 100, minTtl: 100 });
    const good = await c.resolve('blip-known.fault.test');
    server.setMode('servfail');
    await sleep(150);
    await c.resolve('blip-known.fault.test');
    await c.pending('blip-known.fault.test')?.catch(() => {});
    expect(await c.resolve('blip-known.fault.test')).toMatchObject({ stale: true, fetchedAt: good.fetchedAt });
    server.setMode('normal');
    let latest = await c.resolve('blip-known.fault.test');
    const until = Date.now() + 3_000;
    while (latest.stale && Date.now() < until) {
      await sleep(20);
      latest = await c.resolve('blip-known.fault.test');
    }
    expect(latest.stale).toBe(false);
    expect(addresses(latest)).toEqual(['127.0.37.11']);
  });

  const storms = [
    { fault: 'SERVFAIL', start: () => server.setMode('servfail') },
    { fault: 'silence', start: () => server.pause() },
  ] as const;

  it.each(storms)('a storm of resolves of a name whose DNS fails ($fault): a few queries, not one per request', async ({ start }) => {
    start();
    const c = cache({ family: 0 });
    const resolves = record<ResolveEvent>(channelNames.resolve);
    const started = Date.now();
    // 200 at once, then a request every 5 ms for a second and a half.
    const burst = Array.from({ length: 200 }, () => rejection(c.resolve('storm.fault.test')));
    const sequential: DnsResolutionError[] = [];
    while (Date.now() - started < 1_500) {
      sequential.push(await rejection(c.resolve('storm.fault.test')));
      await sleep(5);
    }
    const all = [...(await Promise.all(burst)), ...sequential];
    const elapsedS = (Date.now() - started) / 1_000;
    expect(all.length).toBeGreaterThan(300);
    for (const e of all) expect(e.retryable).toBe(true);
    // One resolution (A + AAAA, each sent at most `tries` times) per failure hold of at least a second.
    const resolutions = resolves.events.filter((e) => e.message.hostname === 'storm.fault.test').length;
    expect(resolutions).toBeGreaterThanOrEqual(1);
    expect(resolutions).toBeLessThanOrEqual(1 + elapsedS);
    expect(server.queryCount('storm.fault.test')).toBeLessThanOrEqual(resolutions * 2 * 2);
  });
});
