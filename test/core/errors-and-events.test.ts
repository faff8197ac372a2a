/**
 * What ridethrough tells its caller and its observers: error classes (instanceof, stable code, attempt
 * list, cause) and the diagnostics_channel events with their documented fields.
 * Real parts only: a UDP DNS server, HTTP pods and a raw TCP fault server on 127.0.34.x–127.0.37.x.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  type AttemptEvent,
  type AttemptRecord,
  AttemptsExhaustedError,
  type BreakerEvent,
  BudgetExhaustedError,
  CircuitOpenError,
  DeadlineExceededError,
  DnsResolutionError,
  type EndpointEvent,
  type GiveUpEvent,
  NoEndpointError,
  NotRetryableError,
  type ResolveEvent,
  type RetryEvent,
  RidethroughError,
  channelNames,
} from '../../src/index.js';
import { errorCode } from '../../src/policy/failure.js';
import type { PodBehaviour } from '@ridethrough/testbed';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_084;
const { dns, agent: newAgent, pod, fault, watch: listen } = useScope({ dnsAddress: '127.0.34.53', port: PORT, dns: { family: 4, hostsFile: false } });

const always503: PodBehaviour = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(503);
    res.end('unavailable');
  });
};

function expectRecord(r: AttemptRecord, expected: Partial<AttemptRecord>): void {
  expect(r).toMatchObject(expected);
  expect(typeof r.durationMs).toBe('number');
  expect(r.durationMs).toBeGreaterThanOrEqual(0);
  expect(Number.isInteger(r.durationMs)).toBe(true);
}

describe('error classes', () => {
  const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const attempts: AttemptRecord[] = [
    { attempt: 1, address: '127.0.34.1', code: 'ECONNREFUSED', status: undefined, durationMs: 2, maybeSent: false },
    { attempt: 2, address: '127.0.34.2', code: undefined, status: 503, durationMs: 7, maybeSent: true },
  ];
  const common = { cause, attempts, origin: 'http://svc.rt.test:80' };
  const cases: { error: RidethroughError; Class: abstract new (...args: never[]) => RidethroughError; code: string; name: string; message: RegExp }[] = [
    {
      error: new DeadlineExceededError(1_500, common),
      Class: DeadlineExceededError,
      code: 'RIDETHROUGH_DEADLINE_EXCEEDED',
      name: 'DeadlineExceededError',
      message: /deadline of 1500 ms exceeded after 2 attempt\(s\); last: HTTP 503 from 127\.0\.34\.2/,
    },
    {
      error: new AttemptsExhaustedError(2, common),
      Class: AttemptsExhaustedError,
      code: 'RIDETHROUGH_ATTEMPTS_EXHAUSTED',
      name: 'AttemptsExhaustedError',
      message: /all 2 attempts failed/,
    },
    {
      error: new NotRetryableError('not-idempotent', common),
      Class: NotRetryableError,
      code: 'RIDETHROUGH_NOT_RETRYABLE',
      name: 'NotRetryableError',
      message: /not idempotent.*Idempotency-Key/,
    },
    {
      error: new NoEndpointError('svc.rt.test', common),
      Class: NoEndpointError,
      code: 'RIDETHROUGH_NO_ENDPOINT',
      name: 'NoEndpointError',
      message: /no endpoint available for svc\.rt\.test/,
    },
    {
      error: new DnsResolutionError('svc.rt.test', 'ESERVFAIL', common),
      Class: DnsResolutionError,
      code: 'RIDETHROUGH_DNS',
      name: 'DnsResolutionError',
      message: /could not resolve svc\.rt\.test: ESERVFAIL/,
    },
    {
      error: new CircuitOpenError('http://svc.rt.test:80', Date.now() + 5_000, { cause, attempts }),
      Class: CircuitOpenError,
      code: 'RIDETHROUGH_CIRCUIT_OPEN',
      name: 'CircuitOpenError',
      message: /circuit open for http:\/\/svc\.rt\.test:80; next probe in \d+ ms/,
    },
    {
      error: new BudgetExhaustedError(common),
      Class: BudgetExhaustedError,
      code: 'RIDETHROUGH_BUDGET_EXHAUSTED',
      name: 'BudgetExhaustedError',
      message: /retry budget exhausted for http:\/\/svc\.rt\.test:80/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: instanceof, code, name, message, attempts, cause, origin`, () => {
      const e = c.error;
      expect(e).toBeInstanceOf(c.Class);
      expect(e).toBeInstanceOf(RidethroughError);
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe(c.code);
      expect(e.name).toBe(c.name);
      expect(e.message).toMatch(c.message);
      expect(e.attempts).toEqual(attempts);
      expect(e.cause).toBe(cause);
      expect(e.origin).toBe('http://svc.rt.test:80');
      expect(String(e)).toContain(c.name);
      expect(e.stack).toContain(c.name);
    });
  }

  it('subclass extras: deadlineMs, reason, hostname/dnsCode/retryable, retryAt', () => {
    expect(new DeadlineExceededError(250).deadlineMs).toBe(250);
    expect(new NotRetryableError('body-not-replayable').reason).toBe('body-not-replayable');
    expect(new NotRetryableError('body-not-replayable').message).toMatch(/stream that has already been read/);
    const dnsError = new DnsResolutionError('a.rt.test', 'ENOTFOUND', { retryable: false });
    expect([dnsError.hostname, dnsError.dnsCode, dnsError.retryable]).toEqual(['a.rt.test', 'ENOTFOUND', false]);
    expect(new DnsResolutionError('a.rt.test', 'ETIMEOUT').retryable).toBe(true);
    expect(new CircuitOpenError('http://a:1', 123).retryAt).toBe(123);
  });

  it('without options: no cause, empty attempts, no origin', () => {
    const e = new AttemptsExhaustedError(3);
    expect(e.attempts).toEqual([]);
    expect('cause' in e).toBe(false);
    expect(e.origin).toBeUndefined();
    expect(e.message).toBe('all 3 attempts failed');
  });
});

describe('errors from real requests', () => {
  it('AttemptsExhaustedError lists a status attempt and a connect failure, with the last error as cause', async () => {
    const host = 'mixed.rt.test';
    // ttl 0 and minTtl 0: every attempt looks DNS up again. The 503 pod "moves" DNS to a dead address.
    dns.setRecords(host, { a: ['127.0.34.1'], ttl: 0 });
    await pod('busy', '127.0.34.1', (req, res, p) => {
      dns.setRecords(host, { a: ['127.0.34.1', '127.0.34.2'], ttl: 0 });
      always503(req, res, p);
    });
    const agent = newAgent({ maxAttempts: 2, dns: { minTtl: 0 } });
    const err = await rejection(request(`http://${host}:${PORT}/x`, { dispatcher: agent }));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    const e = err as AttemptsExhaustedError;
    expect(e.code).toBe('RIDETHROUGH_ATTEMPTS_EXHAUSTED');
    expect(e.origin).toBe(`http://${host}:${PORT}`);
    expect(e.attempts).toHaveLength(2);
    expectRecord(e.attempts[0]!, { attempt: 1, address: '127.0.34.1', status: 503, code: undefined, maybeSent: true });
    expectRecord(e.attempts[1]!, { attempt: 2, address: '127.0.34.2', status: undefined, code: 'ECONNREFUSED', maybeSent: false });
    expect(errorCode(e.cause)).toBe('ECONNREFUSED');
    expect(e.message).toMatch(/last: ECONNREFUSED from 127\.0\.34\.2/);
  });

  it('DeadlineExceededError lists every attempt with address, code and duration', async () => {
    const host = 'deadline.rt.test';
    dns.setRecords(host, { a: ['127.0.34.3', '127.0.34.4'] });
    const agent = newAgent({ deadline: 500, maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } });
    const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const e = err as DeadlineExceededError;
    expect(e.deadlineMs).toBe(500);
    expect(e.attempts.length).toBeGreaterThan(2);
    // Every attempt was refused, except that the deadline may cut the last one short while its
    // connect is still on its way (it is then recorded with the deadline's code).
    const last = e.attempts.length - 1;
    e.attempts.forEach((a, i) => {
      const code = i === last && a.code === 'RIDETHROUGH_DEADLINE_EXCEEDED' ? a.code : 'ECONNREFUSED';
      expectRecord(a, { attempt: i + 1, code, status: undefined, maybeSent: false });
    });
    expect(new Set(e.attempts.map((a) => a.address))).toEqual(new Set(['127.0.34.3', '127.0.34.4']));
  });

  it('NotRetryableError keeps the reset as cause and marks the attempt maybe-sent', async () => {
    const host = 'reset.rt.test';
    dns.setRecords(host, { a: ['127.0.34.5'] });
    await fault('127.0.34.5');
    const agent = newAgent();
    const err = await rejection(request(`http://${host}:${PORT}/`, { method: 'PATCH', body: 'x', dispatcher: agent }));
    expect(err).toBeInstanceOf(NotRetryableError);
    const e = err as NotRetryableError;
    expect(e.reason).toBe('not-idempotent');
    expect(e.cause).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(errorCode(e.cause));
    expect(e.attempts).toHaveLength(1);
    expectRecord(e.attempts[0]!, { attempt: 1, address: '127.0.34.5', status: undefined, maybeSent: true });
  });

  it('DnsResolutionError for a name that does not exist: not retryable, no attempts, at once', async () => {
    const agent = newAgent();
    const started = performance.now();
    const err = await rejection(request(`http://nothing-here.rt.test:${PORT}/`, { dispatcher: agent }));
    expect(err).toBeInstanceOf(DnsResolutionError);
    const e = err as DnsResolutionError;
    expect(e.code).toBe('RIDETHROUGH_DNS');
    expect(e.hostname).toBe('nothing-here.rt.test');
    expect(e.dnsCode).toBe('ENOTFOUND');
    expect(e.retryable).toBe(false);
    expect(e.attempts).toEqual([]);
    expect(e.cause).toBeInstanceOf(DnsResolutionError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('CircuitOpenError once the origin failed threshold times in a row: fails at once, no attempt', async () => {
    const host = 'breaker.rt.test';
    dns.setRecords(host, { a: ['127.0.34.6'] });
    const breaker = listen<BreakerEvent>(channelNames.breaker);
    const agent = newAgent({ maxAttempts: 1, breaker: { threshold: 2, halfOpenAfter: 60_000 } });
    for (let i = 0; i < 2; i++) expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(AttemptsExhaustedError);
    const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    expect(err).toBeInstanceOf(CircuitOpenError);
    const e = err as CircuitOpenError;
    expect(e.code).toBe('RIDETHROUGH_CIRCUIT_OPEN');
    expect(e.origin).toBe(`http://${host}:${PORT}`);
    expect(e.attempts).toEqual([]);
    expect(e.retryAt).toBeGreaterThan(Date.now() + 50_000);
    expect(breaker).toContainEqual({ origin: `http://${host}:${PORT}`, state: 'open' });
  });
});

describe('diagnostics_channel events', () => {
  it('publishes on the documented channel names', () => {
    expect(channelNames).toMatchObject({
      attempt: 'ridethrough:attempt',
      retry: 'ridethrough:retry',
      endpointEjected: 'ridethrough:endpoint:ejected',
      endpointRestored: 'ridethrough:endpoint:restored',
      resolve: 'ridethrough:dns:resolve',
      stale: 'ridethrough:dns:stale',
      deadline: 'ridethrough:deadline',
      giveUp: 'ridethrough:giveup',
      breaker: 'ridethrough:breaker',
      hedge: 'ridethrough:hedge',
    });
  });

  it('ridethrough:attempt, ridethrough:retry, ridethrough:endpoint:ejected and ridethrough:dns:resolve while riding through a refused address', async () => {
    const host = 'events.rt.test';
    dns.setRecords(host, { a: ['127.0.35.1'], ttl: 3 });
    const attempts = listen<AttemptEvent>('ridethrough:attempt');
    const retries = listen<RetryEvent>('ridethrough:retry');
    const ejected = listen<EndpointEvent>('ridethrough:endpoint:ejected');
    const resolved = listen<ResolveEvent>('ridethrough:dns:resolve');
    const giveUps = listen<GiveUpEvent>('ridethrough:giveup');
    // The refusal moves DNS: the re-resolution it triggers finds the live pod.
    const live = await pod('live', '127.0.35.2');
    listen('ridethrough:endpoint:ejected', () => dns.setRecords(host, { a: ['127.0.35.1', '127.0.35.2'], ttl: 3 }));
    const agent = newAgent({ dns: { reResolveInterval: 0 }, ejection: { baseTime: 2_000, maxTime: 4_000 } });
    const res = await request(`http://${host}:${PORT}/orders`, { method: 'POST', body: 'x', dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(live.count('POST')).toBe(1);

    // Where each attempt went: the refused address, then the live one.
    expect(attempts).toEqual([
      { origin: `http://${host}:${PORT}`, method: 'POST', attempt: 1, address: '127.0.35.1', hedge: false },
      { origin: `http://${host}:${PORT}`, method: 'POST', attempt: 2, address: '127.0.35.2', hedge: false },
    ]);
    expect(retries).toHaveLength(1);
    const r = retries[0]!;
    expect(r).toMatchObject({ origin: `http://${host}:${PORT}`, method: 'POST', attempt: 1, address: '127.0.35.1', reason: 'ECONNREFUSED' });
    expect(typeof r.delayMs).toBe('number');
    expect(r.delayMs).toBeGreaterThanOrEqual(0);
    expect(r.delayMs).toBeLessThanOrEqual(25);

    expect(ejected).toHaveLength(1);
    expect(ejected[0]).toMatchObject({ hostname: host, address: '127.0.35.1', reason: 'ECONNREFUSED' });
    // baseTime 2000 with ±15 % jitter.
    expect(ejected[0]!.ejectedForMs).toBeGreaterThanOrEqual(1_700);
    expect(ejected[0]!.ejectedForMs).toBeLessThanOrEqual(2_300);

    const mine = resolved.filter((e) => e.hostname === host);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine[0]).toMatchObject({ hostname: host, addresses: ['127.0.35.1'], ttlSeconds: 3, trigger: 'miss', error: undefined });
    expect(mine[1]).toMatchObject({ hostname: host, addresses: ['127.0.35.1', '127.0.35.2'], ttlSeconds: 3, trigger: 'failure', error: undefined });
    for (const e of mine) {
      expect(typeof e.durationMs).toBe('number');
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(giveUps).toHaveLength(0);
  });

  it('ridethrough:dns:resolve reports expiry and NXDOMAIN', async () => {
    const host = 'expiry.rt.test';
    dns.setRecords(host, { a: ['127.0.35.3'], ttl: 30 });
    await pod('p', '127.0.35.3');
    const resolved = listen<ResolveEvent>('ridethrough:dns:resolve');
    const agent = newAgent({ dns: { maxTtl: 200, minTtl: 0 } });
    for (let i = 0; i < 2; i++) {
      const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
      await res.body.text();
      if (i === 0) await new Promise((r) => setTimeout(r, 300));
    }
    const mine = resolved.filter((e) => e.hostname === host);
    expect(mine.map((e) => e.trigger)).toEqual(['miss', 'expired']);
    // The record says 30 s; maxTtl caps it at 0.2 s.
    expect(mine[0]!.ttlSeconds).toBe(0.2);

    await rejection(request(`http://missing.rt.test:${PORT}/`, { dispatcher: agent }));
    const missing = resolved.filter((e) => e.hostname === 'missing.rt.test');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ addresses: [], trigger: 'miss', error: 'ENOTFOUND' });
  });

  it('ridethrough:endpoint:ejected after consecutive 503s (outlier ejection)', async () => {
    const host = 'outlier.rt.test';
    dns.setRecords(host, { a: ['127.0.35.4', '127.0.35.5'] });
    await pod('bad', '127.0.35.4', always503);
    await pod('good', '127.0.35.5');
    const ejected = listen<EndpointEvent>('ridethrough:endpoint:ejected');
    // Round-robin: the 503 replica is met first on every other attempt, whatever the latencies.
    const agent = newAgent({ balancer: 'round-robin', ejection: { consecutiveFailures: 2, maxPercent: 50, baseTime: 1_000, maxTime: 2_000 } });
    for (let i = 0; i < 40 && ejected.length === 0; i++) {
      const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    expect(ejected).toHaveLength(1);
    expect(ejected[0]).toMatchObject({ hostname: host, address: '127.0.35.4', reason: 'HTTP 503' });
    expect(ejected[0]!.ejectedForMs).toBeGreaterThanOrEqual(850);
    expect(ejected[0]!.ejectedForMs).toBeLessThanOrEqual(1_150);
    const stats = agent.stats[`http://${host}:${PORT}`]!;
    expect(stats.endpoints.find((e) => e.address === '127.0.35.4')!.state).toBe('ejected');
  });

  it('ridethrough:deadline and ridethrough:giveup when the deadline passes', async () => {
    const host = 'giveup-deadline.rt.test';
    dns.setRecords(host, { a: ['127.0.36.1'] });
    const deadlines = listen<GiveUpEvent>('ridethrough:deadline');
    const giveUps = listen<GiveUpEvent>('ridethrough:giveup');
    const agent = newAgent({ deadline: 300, maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } });
    const err = (await rejection(request(`http://${host}:${PORT}/`, { method: 'DELETE', dispatcher: agent }))) as DeadlineExceededError;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const expected = { origin: `http://${host}:${PORT}`, method: 'DELETE', code: 'RIDETHROUGH_DEADLINE_EXCEEDED', attempts: err.attempts.length };
    expect(deadlines).toEqual([expected]);
    expect(giveUps).toEqual([expected]);
    expect(expected.attempts).toBeGreaterThan(1);
  });

  it('ridethrough:giveup (and no ridethrough:deadline) for other give-ups', async () => {
    const host = 'giveup-other.rt.test';
    dns.setRecords(host, { a: ['127.0.36.2'] });
    await fault('127.0.36.2');
    const deadlines = listen<GiveUpEvent>('ridethrough:deadline');
    const giveUps = listen<GiveUpEvent>('ridethrough:giveup');
    const agent = newAgent();
    await rejection(request(`http://${host}:${PORT}/`, { method: 'POST', body: 'x', dispatcher: agent }));
    await rejection(request(`http://nxdomain.rt.test:${PORT}/`, { dispatcher: agent }));
    expect(giveUps).toEqual([
      { origin: `http://${host}:${PORT}`, method: 'POST', code: 'RIDETHROUGH_NOT_RETRYABLE', attempts: 1 },
      { origin: `http://nxdomain.rt.test:${PORT}`, method: 'GET', code: 'RIDETHROUGH_DNS', attempts: 0 },
    ]);
    expect(deadlines).toEqual([]);
  });

  it('a caller abort is not a give-up', async () => {
    const host = 'abort.rt.test';
    dns.setRecords(host, { a: ['127.0.36.3'] });
    await pod('hang', '127.0.36.3', () => {});
    const giveUps = listen<GiveUpEvent>('ridethrough:giveup');
    const agent = newAgent();
    const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent, signal: AbortSignal.timeout(200) }));
    expect((err as Error).name).toMatch(/AbortError|TimeoutError/);
    expect(giveUps).toEqual([]);
  });
});
