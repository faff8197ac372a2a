/**
 * The DNS fault matrix through a real request (issue #16): a `ResilientAgent` resolving through a real
 * DNS server on UDP loopback (`packages/testbed`) that fails one way at a time, and HTTP pods. Where
 * test/resolve/dns-faults.test.ts drives the DnsCache alone, every case here sends requests and asserts
 * what the caller gets (a response, or a typed `RidethroughError`, never an untyped error) and how many
 * queries reached the DNS server. Addresses 127.0.114.x (and ::1), port 18111.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type AttemptEvent, DnsResolutionError, type ResilienceOptions, RidethroughError, channelNames } from '../../src/index.js';
import { useScope } from '../support/scope.js';
import { type Client, type Seen, makeClient } from './support/apis.js';

const PORT = 18_111;
/** Short DNS timeouts, so silence costs little; a deadline that leaves room for a blip. */
const scope = useScope({ dnsAddress: '127.0.114.254', port: PORT, dns: { family: 4, hostsFile: false, timeout: 100, tries: 2, reResolveInterval: 0 } });
const { dns, pod, defer } = scope;
const base = { deadline: 2_000, connectTimeout: 200, attemptTimeout: 300 } as const;

/** A `request()` client through a ResilientAgent resolving through the file's DNS server only; closed after the test. */
function client(options: ResilienceOptions = {}): Client {
  const c = makeClient('request', { ...base, ...options, dns: scope.dnsOptions(options.dns) });
  defer(() => c.close());
  defer(() => {
    dns.resume();
    dns.setMode('normal');
    dns.setDelay(0);
  });
  return c;
}

const url = (host: string, path = '/'): string => `http://${host}:${PORT}${path}`;
const get = (c: Client, host: string): Promise<Seen> => c.send({ url: url(host), method: 'GET' });

/** The response body, failing the test (with what was seen) when there was no 200. */
function okBody(seen: Seen): string {
  expect(seen.kind === 'response' && seen.status === 200, seenText(seen)).toBe(true);
  return (seen as { text: string }).text;
}

/** The typed give-up, failing the test when the caller got anything else (an untyped error above all). */
function giveUp(seen: Seen): RidethroughError {
  expect(seen.kind, seenText(seen)).toBe('error');
  const err = (seen as { error: unknown }).error;
  expect(err, seenText(seen)).toBeInstanceOf(RidethroughError);
  return err as RidethroughError;
}

/** The DNS error code a give-up carries: its own (`DnsResolutionError`) or its cause's. */
function dnsCodeOf(err: RidethroughError): string | undefined {
  if (err instanceof DnsResolutionError) return err.dnsCode;
  return err.cause instanceof DnsResolutionError ? err.cause.dnsCode : undefined;
}

function seenText(seen: Seen): string {
  if (seen.kind === 'response') return `response ${seen.status} ${seen.text ?? ''} after ${Math.round(seen.ms)} ms`;
  const e = seen.error as Error & { code?: unknown };
  return `${e?.constructor?.name}[${String(e?.code)}]: ${e?.message} after ${Math.round(seen.ms)} ms`;
}

/** The failure modes of a DNS server, and what c-ares makes of each. */
const failures = [
  { fault: 'SERVFAIL', start: () => dns.setMode('servfail'), stop: () => dns.setMode('normal'), dnsCode: 'ESERVFAIL' },
  { fault: 'silence', start: () => dns.pause(), stop: () => dns.resume(), dnsCode: 'ETIMEOUT' },
  // TC set: c-ares retries over TCP, where nothing listens.
  { fault: 'truncated', start: () => dns.setMode('truncated'), stop: () => dns.setMode('normal'), dnsCode: 'ECONNREFUSED' },
  { fault: 'garbage', start: () => dns.setMode('garbage'), stop: () => dns.setMode('normal'), dnsCode: 'EBADRESP' },
] as const;

describe.each(failures)('DNS answers $fault', ({ fault, start, stop, dnsCode }) => {
  const slug = fault.toLowerCase();
  // The failure hold holds for the waiting room's re-queries too (issue #16, bug 2).
  it('a name never resolved: a typed DNS give-up within the deadline, queries bounded by the failure hold', async () => {
    const host = `cold-${slug}.dns.test`;
    dns.setRecords(host, { a: ['127.0.114.1'] });
    start();
    const c = client();
    const seen = await get(c, host);
    const err = giveUp(seen);
    expect(dnsCodeOf(err), seenText(seen)).toBe(dnsCode);
    expect(seen.ms).toBeLessThan(base.deadline + 500);
    // One resolution per hold of at least a second, each sent at most `tries` (2) times.
    expect(dns.queryCount(host)).toBeLessThanOrEqual(2 * (1 + Math.ceil(seen.ms / 1_000)));
  });

  it('a name with an expired answer: the stale answer is served, the request succeeds without waiting on DNS', async () => {
    const host = `known-${slug}.dns.test`;
    await pod('known', '127.0.114.2');
    dns.setRecords(host, { a: ['127.0.114.2'] });
    const c = client({ dns: { maxTtl: 100, minTtl: 100 } });
    expect(okBody(await get(c, host))).toBe('known');
    start();
    await sleep(150);
    const seen = await get(c, host);
    expect(okBody(seen)).toBe('known');
    // At most the 25 ms wait for a refresh (docs/configuration.md, "Expired answers"), plus room.
    expect(seen.ms).toBeLessThan(250);
    for (let i = 0; i < 10; i++) expect(okBody(await get(c, host))).toBe('known');
    expect(dns.queryCount(host)).toBeLessThanOrEqual(1 + 2);
    stop();
  });

  // BUG (issue #16, bug 1): a request whose first DNS lookup fails and then recovers crashed with an untyped
  // TypeError in RequestFlow.startAttempt. The request must ride out the blip and reach the pod.
  it('a blip on a name never resolved, while a request waits: the request reaches the pod once DNS answers', async () => {
    const host = `blip-${slug}.dns.test`;
    await pod('blip', '127.0.114.3');
    dns.setRecords(host, { a: ['127.0.114.3'] });
    start();
    const c = client();
    const pending = get(c, host);
    await sleep(100);
    stop();
    const seen = await pending;
    expect(okBody(seen)).toBe('blip');
    expect(seen.ms).toBeLessThan(base.deadline);
  });

  it('a storm: 200 concurrent requests for a name whose DNS fails cost a few queries, not one per request', async () => {
    const host = `storm-${slug}.dns.test`;
    dns.setRecords(host, { a: ['127.0.114.4'] });
    start();
    const c = client({ deadline: 1_500 });
    const started = performance.now();
    const seen = await Promise.all(Array.from({ length: 200 }, () => get(c, host)));
    const elapsedS = (performance.now() - started) / 1_000;
    for (const s of seen) expect(dnsCodeOf(giveUp(s)), seenText(s)).toBe(dnsCode);
    // At most one resolution per hold of at least a second, each sent at most `tries` (2) times (family 4).
    expect(dns.queryCount(host)).toBeLessThanOrEqual(2 * (1 + Math.ceil(elapsedS)));
  });
});

describe('authoritative answers', () => {
  it('NXDOMAIN: DnsResolutionError ENOTFOUND at once, not retryable, one query, cached for negativeTtl', async () => {
    const c = client();
    const seen = await get(c, 'nx.dns.test');
    const err = giveUp(seen);
    expect(err).toBeInstanceOf(DnsResolutionError);
    expect(err).toMatchObject({ code: 'RIDETHROUGH_DNS', dnsCode: 'ENOTFOUND', retryable: false, hostname: 'nx.dns.test' });
    expect(seen.ms).toBeLessThan(200);
    for (let i = 0; i < 10; i++) expect(dnsCodeOf(giveUp(await get(c, 'nx.dns.test')))).toBe('ENOTFOUND');
    expect(dns.queryCount('nx.dns.test')).toBe(1);
  });

  it('empty answer (NODATA) for a name never resolved: ENODATA at once, not retryable, one query', async () => {
    dns.setRecords('empty.dns.test', { a: [] });
    const c = client();
    const seen = await get(c, 'empty.dns.test');
    expect(giveUp(seen)).toMatchObject({ code: 'RIDETHROUGH_DNS', dnsCode: 'ENODATA', retryable: false });
    expect(seen.ms).toBeLessThan(200);
    for (let i = 0; i < 10; i++) expect(dnsCodeOf(giveUp(await get(c, 'empty.dns.test')))).toBe('ENODATA');
    expect(dns.queryCount('empty.dns.test')).toBe(1);
  });

  it('TTL 0 is raised to minTtl: 20 requests, one query', async () => {
    await pod('ttl0', '127.0.114.5');
    dns.setRecords('ttl0.dns.test', { a: ['127.0.114.5'], ttl: 0 });
    const c = client({ dns: { minTtl: 2_000 } });
    for (let i = 0; i < 20; i++) expect(okBody(await get(c, 'ttl0.dns.test'))).toBe('ttl0');
    expect(dns.queryCount('ttl0.dns.test')).toBe(1);
  });

  it('TTL 1 h is clamped to maxTtl: a moved pod is found once maxTtl has passed', async () => {
    await pod('before', '127.0.114.6');
    await pod('after', '127.0.114.7');
    dns.setRecords('ttl1h.dns.test', { a: ['127.0.114.6'], ttl: 3_600 });
    const c = client({ dns: { maxTtl: 300, minTtl: 100 } });
    expect(okBody(await get(c, 'ttl1h.dns.test'))).toBe('before');
    dns.setRecords('ttl1h.dns.test', { a: ['127.0.114.7'], ttl: 3_600 });
    expect(okBody(await get(c, 'ttl1h.dns.test'))).toBe('before');
    await sleep(400);
    // The first request after maxTtl may still get the old answer while the refresh runs (at most 25 ms).
    let body = okBody(await get(c, 'ttl1h.dns.test'));
    if (body === 'before') body = okBody(await get(c, 'ttl1h.dns.test'));
    expect(body).toBe('after');
    expect(dns.queryCount('ttl1h.dns.test')).toBe(2);
  });

  it('CNAME chain: the request reaches the address at its end, one query for the alias', async () => {
    await pod('target', '127.0.114.8');
    dns.setRecords('target.dns.test', { a: ['127.0.114.8'], ttl: 30 });
    dns.setRecords('middle.dns.test', { cname: 'target.dns.test', ttl: 2 });
    dns.setRecords('alias.dns.test', { cname: 'middle.dns.test', ttl: 10 });
    const c = client();
    for (let i = 0; i < 5; i++) expect(okBody(await get(c, 'alias.dns.test'))).toBe('target');
    expect(['alias', 'middle', 'target'].map((n) => dns.queryCount(`${n}.dns.test`))).toEqual([1, 0, 0]);
  });

  it('AAAA only: family 0 reaches the IPv6 pod; family 4 gets ENODATA', async () => {
    await pod('v6', '::1');
    dns.setRecords('v6.dns.test', { aaaa: ['::1'] });
    expect(okBody(await get(client({ dns: { family: 0 } }), 'v6.dns.test'))).toBe('v6');
    expect(dnsCodeOf(giveUp(await get(client({ dns: { family: 4 } }), 'v6.dns.test')))).toBe('ENODATA');
  });
});

describe('answers that change', () => {
  it('mid-request: the only address refuses, DNS moves to a new pod meanwhile, the request ends there', async () => {
    const host = 'moving.dns.test';
    await pod('new', '127.0.114.11');
    dns.setRecords(host, { a: ['127.0.114.10'] });
    const moved = scope.watch<AttemptEvent>(channelNames.attempt, (e) => {
      if (e.address === '127.0.114.10') dns.setRecords(host, { a: ['127.0.114.11'] });
    });
    const c = client();
    const seen = await get(c, host);
    expect(okBody(seen)).toBe('new');
    expect(moved.map((e) => e.address)).toEqual(['127.0.114.10', '127.0.114.11']);
    expect(seen.ms).toBeLessThan(1_000);
    expect(dns.queryCount(host)).toBeLessThanOrEqual(3);
  });

  // BUG (issue #16, bug 1): "a known name that answers empty between two pods and then comes back (the
  // rollout case the docs describe)" crashed with an untyped TypeError. It must retry within its deadline.
  it('a known name answers empty between two pods (a headless rollout): a request in the gap reaches the new pod', async () => {
    const host = 'rollout.dns.test';
    const old = await pod('old', '127.0.114.12');
    dns.setRecords(host, { a: ['127.0.114.12'] });
    const c = client({ dns: { maxTtl: 100, minTtl: 100, negativeTtl: 100 } });
    expect(okBody(await get(c, host))).toBe('old');
    await old.kill();
    dns.setRecords(host, { a: [] });
    await sleep(150);
    const pending = get(c, host);
    await sleep(200);
    await pod('new', '127.0.114.13');
    dns.setRecords(host, { a: ['127.0.114.13'] });
    const seen = await pending;
    expect(okBody(seen)).toBe('new');
    expect(seen.ms).toBeLessThan(base.deadline);
  });
});
