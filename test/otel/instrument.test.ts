/**
 * ridethrough/otel with the real OpenTelemetry SDK and the real `@opentelemetry/instrumentation-undici`:
 * one logical CLIENT span per request with undici's attempt spans nested under it, span events, and
 * metric counts that match what happened. Through undici's request(), resilientFetch, Node's fetch
 * with `dispatcher`, and the resilience() interceptor.
 * Real parts only: a UDP DNS server and HTTP pods on 127.0.121.x, port 18121.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Agent, buildConnector, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { channelNames, CircuitOpenError, createResilientFetch, DnsResolutionError, resilience, type ResilientAgent } from '../../src/index.js';
import { instrumentRidethrough, type RidethroughInstrumentationOptions } from '../../src/otel/index.js';
import { rejection, useScope } from '../support/scope.js';
import { type Otel, parentId, setupOtel, total } from './support.js';

const PORT = 18_121;
const scope = useScope({ dnsAddress: '127.0.121.53', port: PORT, dns: { family: 4, hostsFile: false } });
const { dns, agent: newAgent, pod, defer, moveOnFirstAttempt } = scope;
const otel: Otel = setupOtel();
afterAll(() => otel.shutdown());

const rt = (name: string): string => `ridethrough/${name}`;
const undiciDuration = '@opentelemetry/instrumentation-undici/http.client.request.duration';

/** ridethrough/otel on the test's SDK and undici instrumentation, disabled after the test. */
function instrument(extra: RidethroughInstrumentationOptions = {}): void {
  const handle = instrumentRidethrough({
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    undiciInstrumentation: otel.undici,
    ...extra,
  });
  defer(() => handle.disable());
}

/** The logical span (instrumentation scope `ridethrough`) and the undici spans, checked to be one per request. */
function split(spans: readonly ReadableSpan[]): { logical: ReadableSpan; attempts: ReadableSpan[] } {
  const logical = spans.filter((s) => s.instrumentationScope.name === 'ridethrough');
  expect(logical).toHaveLength(1);
  return { logical: logical[0]!, attempts: spans.filter((s) => s.instrumentationScope.name !== 'ridethrough') };
}

/** Waits until `n` spans ended (undici ends an aborted attempt's span when the abort reaches it). */
async function spansEnded(n: number): Promise<ReadableSpan[]> {
  for (let i = 0; i < 100 && otel.spans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return otel.spans();
}

/** A ride through a refused pod: one OK logical span, two nested attempts, the second a resend. */
function expectRodeThrough(spans: readonly ReadableSpan[], host: string, path: string): void {
  const { logical, attempts } = split(spans);
  expect(logical.kind).toBe(SpanKind.CLIENT);
  expect(logical.name).toBe('GET');
  expect(logical.status.code).toBe(SpanStatusCode.UNSET);
  expect(logical.attributes).toMatchObject({
    'http.request.method': 'GET',
    'server.address': host,
    'server.port': PORT,
    'url.full': `http://${host}:${PORT}${path}`,
    'http.response.status_code': 200,
    'ridethrough.attempts': 2,
  });
  expect(logical.attributes['error.type']).toBeUndefined();
  // Pod IPs are opt-in.
  expect(logical.attributes['ridethrough.endpoint']).toBeUndefined();
  expect(logical.events.map((e) => e.name)).toContain('ridethrough.retry');
  expect(logical.events.find((e) => e.name === 'ridethrough.retry')!.attributes).toMatchObject({
    'ridethrough.retry.reason': 'ECONNREFUSED',
    'ridethrough.attempt': 1,
  });
  expect(attempts).toHaveLength(2);
  const [first, second] = attempts;
  for (const a of attempts) {
    expect(parentId(a)).toBe(logical.spanContext().spanId);
    expect(a.spanContext().traceId).toBe(logical.spanContext().traceId);
    expect(a.attributes['server.address']).toBe(host);
  }
  expect(first!.status.code).toBe(SpanStatusCode.ERROR);
  expect(first!.attributes['error.type']).toBe('ECONNREFUSED');
  expect(first!.attributes['http.request.resend_count']).toBeUndefined();
  expect(second!.attributes['http.request.resend_count']).toBe(1);
  expect(second!.attributes['http.response.status_code']).toBe(200);
  expect(second!.attributes['network.peer.address']).toBe('127.0.121.2');
}

describe('a request that rode through a refused pod', () => {
  const cases: { name: string; send: (agent: ResilientAgent, url: string) => Promise<void> }[] = [
    {
      name: "undici's request() with the ResilientAgent",
      send: async (agent, url) => {
        const res = await request(url, { dispatcher: agent });
        expect(res.statusCode).toBe(200);
        await res.body.text();
      },
    },
    {
      name: 'resilientFetch',
      send: async (agent, url) => {
        const res = await createResilientFetch({ agent })(url);
        expect(res.status).toBe(200);
        await res.text();
      },
    },
    {
      name: "Node's fetch with dispatcher",
      send: async (agent, url) => {
        const res = await fetch(url, { dispatcher: agent } as unknown as RequestInit);
        expect(res.status).toBe(200);
        await res.text();
      },
    },
  ];
  cases.forEach((c, i) => {
    it(`${c.name}: one logical span (not an error), two nested attempts, resend_count 1 on the second; the metrics count it`, async () => {
      const host = `ride${i}.otel.test`;
      moveOnFirstAttempt(host, '127.0.121.1', '127.0.121.2');
      await pod('b', '127.0.121.2');
      const agent = newAgent({ dns: { minTtl: 0 } });
      instrument();
      const before = await otel.collect();
      otel.reset();
      await c.send(agent, `http://${host}:${PORT}/items?id=${i}`);
      expectRodeThrough(await spansEnded(3), host, `/items?id=${i}`);
      const after = await otel.collect();
      const delta = (name: string, match: Record<string, string | number> = {}): number => total(after.get(name), match) - total(before.get(name), match);
      const h = { 'server.address': host };
      expect(after.get(rt('ridethrough.request.duration'))!.unit).toBe('s');
      expect(delta(rt('ridethrough.request.duration'), h)).toBe(1);
      expect(delta(rt('ridethrough.request.duration'), { ...h, 'http.response.status_code': 200 })).toBe(1);
      expect(delta(rt('ridethrough.attempts'), h)).toBe(2);
      expect(delta(rt('ridethrough.attempts'), { ...h, 'ridethrough.attempt.outcome': 'error', 'error.type': 'ECONNREFUSED' })).toBe(1);
      expect(delta(rt('ridethrough.attempts'), { ...h, 'ridethrough.attempt.outcome': 'answered', 'http.response.status_code': 200 })).toBe(1);
      expect(delta(rt('ridethrough.retries'), { ...h, 'ridethrough.retry.reason': 'ECONNREFUSED' })).toBe(1);
      expect(delta(rt('ridethrough.give_ups'), h)).toBe(0);
      expect(delta(rt('ridethrough.endpoint.ejections'), { ...h, 'ridethrough.ejection.reason': 'ECONNREFUSED' })).toBe(1);
      expect(delta(rt('dns.lookup.duration'), { 'dns.question.name': host })).toBeGreaterThanOrEqual(2);
      // undici's own metric: one sample per attempt, with the host name.
      expect(delta(undiciDuration, h)).toBe(2);
      expect(delta(undiciDuration, { ...h, 'error.type': 'ECONNREFUSED' })).toBe(1);
      // No pod IP in any of ridethrough's metrics by default.
      for (const [name, points] of after) {
        if (!name.startsWith('ridethrough/')) continue;
        for (const p of points.points) expect(Object.values(p.attributes)).not.toContain('127.0.121.1');
      }
    });
  });
});

describe('attempts that ridethrough cancels', () => {
  it('a hedge loser still connecting when the winner answered ends as an abort, not an error', async () => {
    const host = 'hedge.otel.test';
    dns.setRecords(host, { a: ['127.0.121.3', '127.0.121.4'] });
    await pod('c', '127.0.121.3');
    await pod('d', '127.0.121.4');
    const plain = buildConnector({});
    let calls = 0;
    // The first connection takes 300 ms: the hedge (after 30 ms) answers first, the first attempt is given up while connecting.
    const connect: buildConnector.connector = (opts, cb) => {
      const slow = calls++ === 0;
      setTimeout(() => plain(opts, cb), slow ? 300 : 0);
    };
    const agent = newAgent({ hedge: { delay: 30 }, connect } as never);
    instrument({ agents: [agent] });
    const before = await otel.collect();
    otel.reset();
    const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
    await res.body.text();
    const { logical, attempts } = split(await spansEnded(3));
    expect(logical.status.code).toBe(SpanStatusCode.UNSET);
    expect(logical.attributes['ridethrough.attempts']).toBe(2);
    expect(logical.events.find((e) => e.name === 'ridethrough.hedge')!.attributes).toMatchObject({ 'ridethrough.hedge.reason': 'delay' });
    expect(attempts).toHaveLength(2);
    const loser = attempts.find((s) => s.attributes['http.response.status_code'] === undefined)!;
    const winner = attempts.find((s) => s !== loser)!;
    expect(loser.status.code).toBe(SpanStatusCode.UNSET);
    expect(loser.attributes['error.type']).toBeUndefined();
    expect(winner.attributes['http.request.resend_count']).toBe(1);
    for (const a of attempts) expect(parentId(a)).toBe(logical.spanContext().spanId);
    const after = await otel.collect();
    const delta = (name: string, match: Record<string, string | number>): number => total(after.get(name), match) - total(before.get(name), match);
    expect(delta(rt('ridethrough.attempts'), { 'server.address': host, 'ridethrough.attempt.outcome': 'abandoned' })).toBe(1);
    expect(delta(rt('ridethrough.attempts'), { 'server.address': host, 'ridethrough.attempt.outcome': 'answered' })).toBe(1);
    expect(delta(undiciDuration, { 'server.address': host, 'error.type': 'Error' })).toBe(0);
  });
});

describe('attempts that wait for a connection', () => {
  it('under a connection limit, an attempt queued in the pool still nests under its own request', async () => {
    const host = 'queue.otel.test';
    dns.setRecords(host, { a: ['127.0.121.10'] });
    await pod('q', '127.0.121.10', (req, res) => {
      req.resume();
      setTimeout(() => res.end('ok'), 50);
    });
    const agent = newAgent({ connections: 1 } as never);
    instrument();
    otel.reset();
    await Promise.all(
      [1, 2, 3].map(async (i) => {
        const res = await request(`http://${host}:${PORT}/${i}`, { dispatcher: agent });
        await res.body.text();
      }),
    );
    const spans = await spansEnded(6);
    const logical = spans.filter((s) => s.instrumentationScope.name === 'ridethrough');
    const attempts = spans.filter((s) => s.instrumentationScope.name !== 'ridethrough');
    expect(attempts).toHaveLength(3);
    for (const a of attempts) {
      const parent = logical.find((l) => l.spanContext().spanId === parentId(a));
      expect(parent?.attributes['url.full']).toBe(`http://${host}:${PORT}${String(a.attributes['url.path'])}`);
    }
  });
});

describe('how a request ends', () => {
  it('a caller abort ends the logical span and its attempt without error', async () => {
    const host = 'abort.otel.test';
    dns.setRecords(host, { a: ['127.0.121.11'] });
    await pod('s', '127.0.121.11', (req) => req.resume());
    const agent = newAgent();
    instrument();
    const before = await otel.collect();
    otel.reset();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent, signal: controller.signal }));
    expect((err as Error).name).toBe('AbortError');
    const { logical, attempts } = split(await spansEnded(2));
    expect(logical.status.code).toBe(SpanStatusCode.UNSET);
    expect(logical.attributes['error.type']).toBeUndefined();
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.UNSET);
    const after = await otel.collect();
    const h = { 'server.address': host };
    expect(total(after.get(rt('ridethrough.request.duration')), h) - total(before.get(rt('ridethrough.request.duration')), h)).toBe(1);
    for (const p of after.get(rt('ridethrough.request.duration'))!.points)
      if (p.attributes['server.address'] === host) expect(p.attributes['error.type']).toBeUndefined();
  });

  it('the deadline: a logical error span with RIDETHROUGH_DEADLINE_EXCEEDED, every attempt nested, resends counted', async () => {
    const host = 'deadline.otel.test';
    dns.setRecords(host, { a: ['127.0.121.12', '127.0.121.13'] });
    const agent = newAgent({ deadline: 300, maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } });
    instrument();
    const before = await otel.collect();
    otel.reset();
    await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    // The logical span ends as the caller gets the error; undici ends the last attempt's span when the abort reaches it.
    const [logical, ...others] = otel.spans().filter((s) => s.instrumentationScope.name === 'ridethrough');
    expect(others).toHaveLength(0);
    expect(logical!.status.code).toBe(SpanStatusCode.ERROR);
    expect(logical!.attributes).toMatchObject({ 'error.type': 'RIDETHROUGH_DEADLINE_EXCEEDED', 'ridethrough.give_up.code': 'RIDETHROUGH_DEADLINE_EXCEEDED' });
    const n = logical!.attributes['ridethrough.attempts'] as number;
    expect(n).toBeGreaterThan(2);
    const nested = (await spansEnded(n + 1)).filter((s) => parentId(s) === logical!.spanContext().spanId);
    expect(nested).toHaveLength(n);
    expect(nested.map((s) => s.attributes['http.request.resend_count'] ?? 0).sort((a, b) => Number(a) - Number(b))).toEqual([...Array(n).keys()]);
    const after = await otel.collect();
    const match = { 'server.address': host, 'error.type': 'RIDETHROUGH_DEADLINE_EXCEEDED' };
    expect(total(after.get(rt('ridethrough.give_ups')), match) - total(before.get(rt('ridethrough.give_ups')), match)).toBe(1);
    const retries = { 'server.address': host };
    expect(total(after.get(rt('ridethrough.retries')), retries) - total(before.get(rt('ridethrough.retries')), retries)).toBeGreaterThanOrEqual(n - 1);
  });
});

describe('a retry the budget refuses', () => {
  it('the 503 goes to the caller: an error span with the status; the refusal is counted from stats', async () => {
    const host = 'budget.otel.test';
    dns.setRecords(host, { a: ['127.0.121.15', '127.0.121.16'] });
    const unavailable = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      req.resume();
      res.writeHead(503).end('no');
    };
    await pod('k', '127.0.121.15', unavailable);
    await pod('l', '127.0.121.16', unavailable);
    const agent = newAgent({ budget: { ratio: 0, minPerSecond: 0 }, breaker: false });
    instrument({ agents: [agent] });
    const before = await otel.collect();
    otel.reset();
    const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    await res.body.text();
    const { logical, attempts } = split(await spansEnded(2));
    expect(attempts).toHaveLength(1);
    expect(logical.status.code).toBe(SpanStatusCode.ERROR);
    expect(logical.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503', 'ridethrough.attempts': 1 });
    expect(logical.attributes['ridethrough.give_up.code']).toBeUndefined();
    const after = await otel.collect();
    const h = { 'server.address': host };
    expect(total(after.get(rt('ridethrough.retry_budget.refusals')), h)).toBe(1);
    expect(total(after.get(rt('ridethrough.retry_budget.available')), h)).toBe(0);
    const answered = { ...h, 'ridethrough.attempt.outcome': 'answered', 'error.type': '503' };
    expect(total(after.get(rt('ridethrough.attempts')), answered) - total(before.get(rt('ridethrough.attempts')), answered)).toBe(1);
    expect(total(after.get(rt('ridethrough.retries')), h) - total(before.get(rt('ridethrough.retries')), h)).toBe(0);
  });
});

describe('requests that never reach undici', () => {
  it('breaker fast-fail: a logical error span with the give-up code; the breaker event and metrics', async () => {
    const host = 'breaker.otel.test';
    dns.setRecords(host, { a: ['127.0.121.5'] });
    const agent = newAgent({ maxAttempts: 1, breaker: { threshold: 1, halfOpenAfter: 60_000 } });
    instrument({ agents: [agent] });
    const before = await otel.collect();
    otel.reset();
    await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    const opened = split(otel.spans()).logical;
    expect(opened.attributes['ridethrough.give_up.code']).toBe('RIDETHROUGH_ATTEMPTS_EXHAUSTED');
    expect(opened.events.find((e) => e.name === 'ridethrough.breaker')!.attributes).toEqual({ 'ridethrough.breaker.state': 'open' });
    otel.reset();
    expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(CircuitOpenError);
    const { logical, attempts } = split(otel.spans());
    expect(attempts).toHaveLength(0);
    expect(logical.status.code).toBe(SpanStatusCode.ERROR);
    expect(logical.attributes).toMatchObject({
      'error.type': 'RIDETHROUGH_CIRCUIT_OPEN',
      'ridethrough.give_up.code': 'RIDETHROUGH_CIRCUIT_OPEN',
      'ridethrough.attempts': 0,
      'server.address': host,
    });
    expect(logical.events.map((e) => e.name)).toContain('exception');
    const after = await otel.collect();
    const delta = (name: string, match: Record<string, string | number>): number => total(after.get(name), match) - total(before.get(name), match);
    const h = { 'server.address': host };
    expect(delta(rt('ridethrough.request.duration'), { ...h, 'error.type': 'RIDETHROUGH_CIRCUIT_OPEN' })).toBe(1);
    expect(delta(rt('ridethrough.request.duration'), { ...h, 'error.type': 'RIDETHROUGH_ATTEMPTS_EXHAUSTED' })).toBe(1);
    expect(delta(rt('ridethrough.give_ups'), { ...h, 'error.type': 'RIDETHROUGH_CIRCUIT_OPEN' })).toBe(1);
    expect(delta(rt('ridethrough.breaker.transitions'), { ...h, 'ridethrough.breaker.state': 'open' })).toBe(1);
    // The gauges read agent.stats.
    expect(total(after.get(rt('ridethrough.breaker.state')), { ...h, 'ridethrough.breaker.state': 'open' })).toBe(1);
    expect(total(after.get(rt('ridethrough.breaker.state')), { ...h, 'ridethrough.breaker.state': 'closed' })).toBe(0);
    expect(total(after.get(rt('ridethrough.endpoints')), { ...h, 'ridethrough.endpoint.state': 'ejected' })).toBe(1);
    expect(total(after.get(rt('ridethrough.requests.waiting')), h)).toBe(0);
    expect(total(after.get(rt('ridethrough.retry_budget.available')), h)).toBeGreaterThan(0);
  });

  it('DNS failure: a logical error span with RIDETHROUGH_DNS; the DNS duration carries the error', async () => {
    const agent = newAgent();
    instrument();
    const before = await otel.collect();
    otel.reset();
    const host = 'nothing.otel.test';
    expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(DnsResolutionError);
    const { logical, attempts } = split(otel.spans());
    expect(attempts).toHaveLength(0);
    expect(logical.status.code).toBe(SpanStatusCode.ERROR);
    expect(logical.attributes).toMatchObject({ 'error.type': 'RIDETHROUGH_DNS', 'ridethrough.attempts': 0 });
    const after = await otel.collect();
    expect(
      total(after.get(rt('dns.lookup.duration')), { 'dns.question.name': host, 'error.type': 'ENOTFOUND' }) -
        total(before.get(rt('dns.lookup.duration')), { 'dns.question.name': host, 'error.type': 'ENOTFOUND' }),
    ).toBe(1);
  });

  it('a stale DNS answer served while DNS fails: a span event and a count', async () => {
    const host = 'stale.otel.test';
    dns.setRecords(host, { a: ['127.0.121.6'], ttl: 0 });
    await pod('f', '127.0.121.6');
    const agent = newAgent({ dns: { minTtl: 0 } });
    instrument();
    await (await request(`http://${host}:${PORT}/`, { dispatcher: agent })).body.text();
    dns.setMode('servfail');
    defer(() => dns.setMode('normal'));
    const before = await otel.collect();
    otel.reset();
    await (await request(`http://${host}:${PORT}/`, { dispatcher: agent })).body.text();
    const { logical } = split(await spansEnded(2));
    expect(logical.status.code).toBe(SpanStatusCode.UNSET);
    expect(logical.events.find((e) => e.name === 'ridethrough.dns.stale')!.attributes).toMatchObject({ 'error.type': 'ESERVFAIL' });
    const after = await otel.collect();
    const match = { 'dns.question.name': host, 'error.type': 'ESERVFAIL' };
    expect(total(after.get(rt('ridethrough.dns.stale_answers')), match) - total(before.get(rt('ridethrough.dns.stale_answers')), match)).toBe(1);
  });
});

describe('the interceptor', () => {
  it("undici's attempt spans carry the host name, the pod IP only as network.peer.address", async () => {
    const host = 'icpt.otel.test';
    dns.setRecords(host, { a: ['127.0.121.7'] });
    await pod('g', '127.0.121.7');
    const base = new Agent();
    defer(() => base.close());
    const dispatcher = base.compose(resilience({ dns: scope.dnsOptions() }));
    instrument();
    const before = await otel.collect();
    otel.reset();
    await (await request(`http://${host}:${PORT}/items?q=1`, { dispatcher })).body.text();
    const { logical, attempts } = split(await spansEnded(2));
    expect(logical.attributes['url.full']).toBe(`http://${host}:${PORT}/items?q=1`);
    expect(attempts).toHaveLength(1);
    expect(parentId(attempts[0]!)).toBe(logical.spanContext().spanId);
    expect(attempts[0]!.attributes).toMatchObject({
      'server.address': host,
      'url.full': `http://${host}:${PORT}/items?q=1`,
      'network.peer.address': '127.0.121.7',
    });
    const after = await otel.collect();
    expect(total(after.get(undiciDuration), { 'server.address': host }) - total(before.get(undiciDuration), { 'server.address': host })).toBe(1);
    expect(total(after.get(undiciDuration), { 'server.address': '127.0.121.7' })).toBe(0);
  });
});

describe('options and disable()', () => {
  it('pod IPs only with podIpAttributes', async () => {
    const host = 'podip.otel.test';
    dns.setRecords(host, { a: ['127.0.121.8'] });
    await pod('h', '127.0.121.8');
    const agent = newAgent();
    instrument({ podIpAttributes: true });
    otel.reset();
    await (await request(`http://${host}:${PORT}/`, { dispatcher: agent })).body.text();
    const { logical } = split(await spansEnded(2));
    expect(logical.attributes['ridethrough.endpoint']).toBe('127.0.121.8');
    const after = await otel.collect();
    expect(total(after.get(rt('ridethrough.attempts')), { 'server.address': host, 'network.peer.address': '127.0.121.8' })).toBe(1);
  });

  it('disable() stops the spans, unsubscribes every channel, restores the undici hook; one instrumentation at a time', async () => {
    const host = 'off.otel.test';
    dns.setRecords(host, { a: ['127.0.121.9'] });
    await pod('i', '127.0.121.9');
    const agent = newAgent();
    const hookBefore = otel.undici.getConfig().startSpanHook;
    const handle = instrumentRidethrough({ tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider, undiciInstrumentation: otel.undici });
    expect(() => instrumentRidethrough()).toThrow(/set already/);
    expect(diagnosticsChannel.channel(channelNames.retry).hasSubscribers).toBe(true);
    expect(handle.enabled).toBe(true);
    handle[Symbol.dispose]();
    handle.disable();
    expect(handle.enabled).toBe(false);
    expect(otel.undici.getConfig().startSpanHook).toBe(hookBefore);
    for (const name of [
      channelNames.retry,
      channelNames.giveUp,
      channelNames.endpointEjected,
      channelNames.breaker,
      channelNames.stale,
      channelNames.resolve,
    ]) {
      expect(diagnosticsChannel.channel(name).hasSubscribers).toBe(false);
    }
    otel.reset();
    await (await request(`http://${host}:${PORT}/`, { dispatcher: agent })).body.text();
    const spans = await spansEnded(1);
    expect(spans.filter((s) => s.instrumentationScope.name === 'ridethrough')).toHaveLength(0);
    // A new one may start once the first is off.
    instrument();
  });

  it('a failing tracer does not fail the request', async () => {
    const host = 'broken.otel.test';
    dns.setRecords(host, { a: ['127.0.121.14'] });
    await pod('j', '127.0.121.14');
    const agent = newAgent();
    const broken = {
      getTracer: () => ({
        startSpan: () => {
          throw new Error('broken tracer');
        },
        startActiveSpan: () => {
          throw new Error('broken tracer');
        },
      }),
    };
    instrument({ tracerProvider: broken as never });
    const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('j');
  });

  it('bad options fail at once, naming the option', () => {
    expect(() => instrumentRidethrough({ podIpAttributes: 'yes' as never })).toThrow(/option "podIpAttributes" must be a boolean/);
    expect(() => instrumentRidethrough({ tracerProvider: {} as never })).toThrow(/option "tracerProvider" must be an object with getTracer\(\)/);
    expect(() => instrumentRidethrough({ agents: 3 as never })).toThrow(/option "agents" must be an iterable/);
    expect(() => instrumentRidethrough({ tracer: 1 } as never)).toThrow(/unknown option "tracer"/);
  });
});
