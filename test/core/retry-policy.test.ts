/**
 * When ridethrough retries and when it stops: retryable statuses, Retry-After, a different endpoint per
 * retry, the overall deadline, the attempt limit, the caller's AbortSignal, the per-attempt headers
 * timeout, and nothing after the response was handed to the caller.
 * Real parts only: a UDP DNS server, HTTP pods and a raw TCP fault server on 127.0.24.x–127.0.27.x.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { AttemptsExhaustedError, DeadlineExceededError, NotRetryableError, type ResilientAgent, createResilientFetch, resilience } from '../../src/index.js';
import { errorCode } from '../../src/policy/failure.js';
import { type Pod, type PodBehaviour, answerOk } from '@ridethrough/testbed';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_081;
const {
  dns,
  agent: newAgent,
  pod,
  fault,
  watchRetries,
  dnsOptions,
} = useScope({ dnsAddress: '127.0.24.53', port: PORT, dns: { family: 4, hostsFile: false } });

/** Answers `status` (with `headers` and a body) to the first `times` requests, then 200 with the pod name. */
function failFirst(times: number, status: number, headers: Record<string, string> = {}, body = 'x'.repeat(10_000)): PodBehaviour & { at: number[] } {
  const at: number[] = [];
  const behaviour = (req: Parameters<PodBehaviour>[0], res: Parameters<PodBehaviour>[1], p: Pod): void => {
    at.push(performance.now());
    if (at.length > times) {
      answerOk(req, res, p);
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    });
  };
  return Object.assign(behaviour, { at });
}

const always503: PodBehaviour = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('unavailable');
  });
};

describe('retryable statuses', () => {
  it('retries a GET after a 503, drains the 503 body and reuses the connection', async () => {
    const host = 's503-get.rt.test';
    dns.setRecords(host, { a: ['127.0.24.1'] });
    const behaviour = failFirst(1, 503);
    const p = await pod('p', '127.0.24.1', behaviour);
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('p');
    expect(p.count('GET')).toBe(2);
    // The 10 kB 503 body was read to the end, so the keep-alive connection served the retry.
    expect(p.connections).toBe(1);
  });

  it('does not retry a POST after a 503: the caller gets the 503', async () => {
    const host = 's503-post.rt.test';
    dns.setRecords(host, { a: ['127.0.24.2'] });
    const p = await pod('p', '127.0.24.2', always503);
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/orders`, { method: 'POST', body: 'order', dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe('unavailable');
    await sleep(100);
    expect(p.count('POST')).toBe(1);
  });

  it('hands the last 503 to the caller when every attempt got one (maxAttempts)', async () => {
    const host = 's503-all.rt.test';
    dns.setRecords(host, { a: ['127.0.24.3'] });
    const p = await pod('p', '127.0.24.3', always503);
    const agent = newAgent({ maxAttempts: 3, backoff: { initialDelay: 5, maxDelay: 20 } });
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe('unavailable');
    expect(p.count('GET')).toBe(3);
  });

  it('honours Retry-After on a 429: the second attempt comes about a second later', async () => {
    const host = 's429.rt.test';
    dns.setRecords(host, { a: ['127.0.24.4'] });
    const behaviour = failFirst(1, 429, { 'retry-after': '1' }, 'slow down');
    const p = await pod('p', '127.0.24.4', behaviour);
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(p.count('GET')).toBe(2);
    expect(behaviour.at[1]! - behaviour.at[0]!).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a 429 whose Retry-After exceeds maxRetryAfter: the caller gets the 429', async () => {
    const host = 's429-long.rt.test';
    dns.setRecords(host, { a: ['127.0.24.5'] });
    const behaviour = failFirst(1, 429, { 'retry-after': '2' }, 'slow down');
    const p = await pod('p', '127.0.24.5', behaviour);
    const agent = newAgent({ maxRetryAfter: 1_000 });
    const started = performance.now();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(await res.body.text()).toBe('slow down');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(p.count('GET')).toBe(1);
  });

  it('does not retry a 429 without Retry-After', async () => {
    const host = 's429-bare.rt.test';
    dns.setRecords(host, { a: ['127.0.24.6'] });
    const p = await pod('p', '127.0.24.6', failFirst(1, 429, {}, 'slow down'));
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(429);
    await res.body.text();
    expect(p.count('GET')).toBe(1);
  });
});

describe('where a retry goes', () => {
  it('sends the retry to a different replica than the one that just answered 503', async () => {
    const host = 'three.rt.test';
    dns.setRecords(host, { a: ['127.0.24.10', '127.0.24.11', '127.0.24.12'] });
    const bad = await pod('bad', '127.0.24.10', always503);
    const good1 = await pod('good1', '127.0.24.11');
    const good2 = await pod('good2', '127.0.24.12');
    // Keep the bad replica in rotation, and take turns, so many requests meet it first (the default p2c
    // balancer breaks ties by latency, which could keep avoiding it).
    const agent = newAgent({ balancer: 'round-robin', ejection: { consecutiveFailures: 1000 } });
    const n = 30;
    for (let i = 0; i < n; i++) {
      const res = await request(`http://${host}:${PORT}/items`, { headers: { 'x-req': String(i) }, dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    const hits = (p: Pod, i: number): number => p.requests.filter((r) => r.headers['x-req'] === String(i)).length;
    let metBadFirst = 0;
    for (let i = 0; i < n; i++) {
      const b = hits(bad, i);
      expect(b).toBeLessThanOrEqual(1);
      expect(hits(good1, i) + hits(good2, i)).toBe(1);
      metBadFirst += b;
    }
    expect(metBadFirst).toBeGreaterThan(0);
    expect(bad.count()).toBe(metBadFirst);
  });
});

describe('limits', () => {
  const dead = ['127.0.25.1', '127.0.25.2', '127.0.25.3'];

  it('gives up with DeadlineExceededError at the deadline when every endpoint refuses', async () => {
    const host = 'all-dead.rt.test';
    dns.setRecords(host, { a: dead });
    const agent = newAgent({ deadline: 1_500, maxAttempts: 1000, backoff: { initialDelay: 25, maxDelay: 100 } });
    const started = performance.now();
    const err = await rejection(request(`http://${host}:${PORT}/items`, { dispatcher: agent }));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const e = err as DeadlineExceededError;
    expect(e.code).toBe('RIDETHROUGH_DEADLINE_EXCEEDED');
    expect(e.deadlineMs).toBe(1_500);
    expect(elapsed).toBeGreaterThanOrEqual(1_300);
    expect(elapsed).toBeLessThan(3_000);
    expect(e.attempts.length).toBeGreaterThan(3);
    for (const [i, a] of e.attempts.entries()) {
      expect(dead).toContain(a.address);
      // The deadline may cut the last attempt while it connects: it then carries the deadline's code.
      const last = i === e.attempts.length - 1;
      expect(last ? ['ECONNREFUSED', 'RIDETHROUGH_DEADLINE_EXCEEDED'] : ['ECONNREFUSED']).toContain(a.code);
      expect(a.maybeSent).toBe(false);
    }
    // Every address was tried.
    expect(new Set(e.attempts.map((a) => a.address))).toEqual(new Set(dead));
    expect(errorCode(e.cause)).toBe('ECONNREFUSED');
  });

  it('a per-request deadline override wins over the agent default', async () => {
    const host = 'all-dead-override.rt.test';
    dns.setRecords(host, { a: dead });
    const agent = newAgent({ deadline: 30_000, maxAttempts: 1000, backoff: { initialDelay: 25, maxDelay: 100 } });
    const started = performance.now();
    const err = await rejection(
      request(`http://${host}:${PORT}/items`, { dispatcher: agent, ridethrough: { deadline: 600 } } as Parameters<typeof request>[1]),
    );
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).deadlineMs).toBe(600);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('requests in flight together give up at their own deadlines, whichever finish first', async () => {
    const host = 'hang-deadlines.rt.test';
    dns.setRecords(host, { a: ['127.0.25.9'] });
    // Answers /fast at once; every other request is accepted and never answered.
    await pod('hang', '127.0.25.9', (req, res) => {
      req.resume();
      if (req.url === '/fast') res.end('fast');
    });
    const agent = newAgent({ deadline: 900, attemptTimeout: 20_000 });
    const t0 = performance.now();
    const send = (path: string, deadline?: number): Promise<{ ok: boolean; ms: number; err?: unknown }> =>
      request(`http://${host}:${PORT}${path}`, { dispatcher: agent, ...(deadline ? { ridethrough: { deadline } } : {}) } as Parameters<typeof request>[1]).then(
        async (res) => ({ ok: (await res.body.text()) === 'fast', ms: performance.now() - t0 }),
        (err: unknown) => ({ ok: false, ms: performance.now() - t0, err }),
      );
    // The first request (the agent's 900 ms) answers at once: the ones queued behind it keep their deadlines.
    const fast = send('/fast');
    const a = send('/hang');
    const b = send('/hang', 300);
    const c = send('/hang', 600);
    await sleep(200);
    const d = send('/hang');
    const [rf, ra, rb, rc, rd] = await Promise.all([fast, a, b, c, d]);
    expect(rf.ok).toBe(true);
    for (const r of [ra, rb, rc, rd]) expect(r.err).toBeInstanceOf(DeadlineExceededError);
    expect((rb.err as DeadlineExceededError).deadlineMs).toBe(300);
    expect((rc.err as DeadlineExceededError).deadlineMs).toBe(600);
    expect((ra.err as DeadlineExceededError).deadlineMs).toBe(900);
    // Each at its own deadline (timers may fire a little late, never early).
    expect(rb.ms).toBeGreaterThanOrEqual(290);
    expect(rc.ms).toBeGreaterThanOrEqual(590);
    expect(ra.ms).toBeGreaterThanOrEqual(890);
    expect(rd.ms).toBeGreaterThanOrEqual(1_090);
    expect(rb.ms).toBeLessThan(rc.ms);
    expect(rc.ms).toBeLessThan(ra.ms);
    expect(ra.ms).toBeLessThan(rd.ms);
    expect(rd.ms).toBeLessThan(2_500);
  });

  it('gives up with AttemptsExhaustedError after maxAttempts', async () => {
    const host = 'all-dead-attempts.rt.test';
    dns.setRecords(host, { a: dead });
    const agent = newAgent({ maxAttempts: 3, backoff: { initialDelay: 5, maxDelay: 20 } });
    const err = await rejection(request(`http://${host}:${PORT}/items`, { method: 'POST', body: 'x', dispatcher: agent }));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    const e = err as AttemptsExhaustedError;
    expect(e.code).toBe('RIDETHROUGH_ATTEMPTS_EXHAUSTED');
    expect(e.attempts).toHaveLength(3);
    expect(e.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // Three attempts, three different addresses.
    expect(new Set(e.attempts.map((a) => a.address)).size).toBe(3);
  });

  it('a per-request maxAttempts override wins (resilientFetch)', async () => {
    const host = 'all-dead-attempts2.rt.test';
    dns.setRecords(host, { a: dead });
    const fetch = createResilientFetch({ agent: newAgent({ backoff: { initialDelay: 5, maxDelay: 20 } }) });
    const err = await rejection(fetch(`http://${host}:${PORT}/items`, { ridethrough: { maxAttempts: 2 } }));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    expect((err as AttemptsExhaustedError).attempts).toHaveLength(2);
  });
});

describe("the caller's AbortSignal", () => {
  it('wins during a Retry-After backoff: AbortError at once, no further attempt (request())', async () => {
    const host = 'abort-backoff.rt.test';
    dns.setRecords(host, { a: ['127.0.26.1'] });
    const controller = new AbortController();
    const behaviour = failFirst(1, 429, { 'retry-after': '2' }, 'later');
    const p = await pod('p', '127.0.26.1', (req, res, po) => {
      behaviour(req, res, po);
      setTimeout(() => controller.abort(), 200);
    });
    const agent = newAgent();
    const started = performance.now();
    const err = await rejection(request(`http://${host}:${PORT}/items`, { dispatcher: agent, signal: controller.signal }));
    const elapsed = performance.now() - started;
    expect((err as Error).name).toBe('AbortError');
    expect(elapsed).toBeLessThan(1_000);
    // Past the moment the retry would have gone out.
    await sleep(2_300);
    expect(p.count()).toBe(1);
  });

  it('wins during a backoff after a refused connection: AbortError, no further attempt (resilientFetch)', async () => {
    const host = 'abort-refused.rt.test';
    dns.setRecords(host, { a: ['127.0.26.2'] });
    const controller = new AbortController();
    const retries = watchRetries(() => queueMicrotask(() => controller.abort()));
    const fetch = createResilientFetch({ agent: newAgent({ backoff: { initialDelay: 200, maxDelay: 400 } }) });
    const err = await rejection(fetch(`http://${host}:${PORT}/items`, { signal: controller.signal }));
    expect((err as Error).name).toBe('AbortError');
    await sleep(500);
    expect(retries).toHaveLength(1);
  });
});

describe('attemptTimeout', () => {
  it('fails an attempt to a replica that never answers with UND_ERR_HEADERS_TIMEOUT and retries a GET elsewhere', async () => {
    const host = 'wedged.rt.test';
    dns.setRecords(host, { a: ['127.0.27.1'] });
    const ok = await pod('ok', '127.0.27.2');
    // The wedged pod takes the request and never answers; by then DNS lists a healthy replica too.
    const wedged = await pod('wedged', '127.0.27.1', () => dns.setRecords(host, { a: ['127.0.27.1', '127.0.27.2'] }));
    const retries = watchRetries();
    const agent = newAgent({ attemptTimeout: 300, dns: { reResolveInterval: 0 } });
    const started = performance.now();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(wedged.requests.length + wedged.connections).toBeGreaterThan(0);
    expect(ok.count('GET')).toBe(1);
    expect(retries).toHaveLength(1);
    expect(retries[0]!.reason).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(retries[0]!.address).toBe('127.0.27.1');
  });

  it('does not retry a POST whose attempt timed out (it may have reached the server)', async () => {
    const host = 'wedged-post.rt.test';
    dns.setRecords(host, { a: ['127.0.27.3'] });
    const wedged = await pod('wedged', '127.0.27.3', () => {});
    const agent = newAgent({ attemptTimeout: 300 });
    const err = await rejection(request(`http://${host}:${PORT}/orders`, { method: 'POST', body: 'once', dispatcher: agent }));
    expect(err).toBeInstanceOf(NotRetryableError);
    expect((err as NotRetryableError).reason).toBe('not-idempotent');
    expect(errorCode((err as NotRetryableError).cause)).toBe('UND_ERR_HEADERS_TIMEOUT');
    await sleep(100);
    expect(wedged.count('POST')).toBe(1);
  });
});

describe("attemptTimeout is ridethrough's own timer, not undici's headersTimeout", () => {
  /** Answers 200 with the pod's name `ms` after the request arrived. */
  const answerAfter =
    (ms: number): PodBehaviour =>
    (req, res, p) => {
      req.resume();
      req.on('end', () => {
        setTimeout(() => {
          res.setHeader('content-type', 'text/plain');
          res.end(p.name);
        }, ms);
      });
    };

  it('an attempt still queued for a connection when it times out never left: even a POST goes to the other replica', async () => {
    const host = 'queued.rt.test';
    dns.setRecords(host, { a: ['127.0.27.20', '127.0.27.21'] });
    // A takes the first request and never answers; with one connection per endpoint, later requests to A queue behind it.
    const a = await pod('a', '127.0.27.20', () => {});
    const b = await pod('b', '127.0.27.21');
    // Silence detection off: this test is about the attempt timer (test/core/silent-endpoint.test.ts covers the detector).
    const agent = newAgent({ balancer: 'round-robin', connectionsPerEndpoint: 1, attemptTimeout: 300, silentEndpoint: false, dns: { reResolveInterval: 0 } });
    const url = `http://${host}:${PORT}`;
    // The first request holds A's only connection for 5 s; the second goes to B.
    const blocker = request(`${url}/hold`, { dispatcher: agent, ridethrough: { attemptTimeout: 5_000, deadline: 6_000 } } as Parameters<typeof request>[1]);
    blocker.catch(() => {});
    await sleep(100);
    expect((await request(`${url}/first`, { dispatcher: agent })).statusCode).toBe(200);
    const retries = watchRetries();
    // The third goes to A by turn, waits in A's queue, times out there and is sent to B, POST and all.
    const res = await request(`${url}/orders`, { method: 'POST', body: 'once', dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('b');
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ address: '127.0.27.20', reason: 'UND_ERR_HEADERS_TIMEOUT' });
    await sleep(100);
    expect(a.count('POST')).toBe(0);
    expect(b.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual(['once']);
    // A was ejected when the POST's attempt timed out unsent there: the GET held on it was hedged to B.
    const held = await blocker;
    expect(await held.body.text()).toBe('b');
    await agent.destroy();
  });

  it('an attemptTimeout longer than bodyTimeout holds: headers after 500 ms arrive with a 200 ms body timeout', async () => {
    const host = 'slow-headers.rt.test';
    dns.setRecords(host, { a: ['127.0.27.22'] });
    const p = await pod('slow', '127.0.27.22', answerAfter(500));
    const retries = watchRetries();
    const agent = newAgent({ attemptTimeout: 2_000, bodyTimeout: 200 });
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('slow');
    expect(retries).toHaveLength(0);
    expect(p.count('GET')).toBe(1);
  });

  it("a per-request attemptTimeout longer than the agent's holds, a shorter one cuts the attempt", async () => {
    const host = 'override-timeout.rt.test';
    dns.setRecords(host, { a: ['127.0.27.23'] });
    await pod('slow', '127.0.27.23', answerAfter(600));
    const agent = newAgent({ attemptTimeout: 300, maxAttempts: 1 });
    const url = `http://${host}:${PORT}/items`;
    const longer = await request(url, { dispatcher: agent, ridethrough: { attemptTimeout: 2_000 } } as Parameters<typeof request>[1]);
    expect(longer.statusCode).toBe(200);
    await longer.body.text();
    const err = await rejection(request(url, { dispatcher: agent }));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    expect(errorCode((err as AttemptsExhaustedError).cause)).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((err as AttemptsExhaustedError).attempts.map((r) => r.code)).toEqual(['UND_ERR_HEADERS_TIMEOUT']);
  });

  // A request whose host has a fresh DNS answer takes the hot path: its first attempt goes out from the
  // dispatch call, and that attempt's timer is the request's own deadline-queue entry, which then moves
  // on to the overall deadline. The four tests below warm the DNS cache first so they run that path.
  const warmAgent = async (host: string, options: Parameters<typeof newAgent>[0]): Promise<ResilientAgent> => {
    const agent = newAgent(options);
    await agent.context.dns.resolve(host);
    return agent;
  };

  it('on the hot path (a warm DNS answer) a wedged replica times out at attemptTimeout and the GET goes to the other', async () => {
    const host = 'warm-wedged.rt.test';
    dns.setRecords(host, { a: ['127.0.27.30', '127.0.27.31'] });
    const wedged = await pod('wedged', '127.0.27.30', () => {});
    const ok = await pod('ok', '127.0.27.31');
    const agent = await warmAgent(host, { balancer: 'round-robin', attemptTimeout: 300, dns: { reResolveInterval: 0 } });
    const retries = watchRetries();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ address: '127.0.27.30', reason: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(wedged.count('GET')).toBe(1);
    expect(ok.count('GET')).toBe(1);
  });

  it('on the hot path the overall deadline still holds after the first attempt timed out: every attempt to a wedged replica times out', async () => {
    const host = 'warm-wedged-deadline.rt.test';
    dns.setRecords(host, { a: ['127.0.27.32'] });
    const wedged = await pod('wedged', '127.0.27.32', () => {});
    const agent = await warmAgent(host, { attemptTimeout: 200, deadline: 700, maxAttempts: 100, backoff: { initialDelay: 10, maxDelay: 20 } });
    const started = performance.now();
    const err = await rejection(request(`http://${host}:${PORT}/items`, { dispatcher: agent }));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const e = err as DeadlineExceededError;
    expect(e.deadlineMs).toBe(700);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(2_000);
    const codes = e.attempts.map((a) => a.code);
    // Two or three attempts timed out (200 ms each), the last one was cut by the deadline.
    expect(codes.length).toBeGreaterThanOrEqual(3);
    expect(codes.slice(0, -1).every((c) => c === 'UND_ERR_HEADERS_TIMEOUT')).toBe(true);
    expect(codes.at(-1)).toBe('RIDETHROUGH_DEADLINE_EXCEEDED');
    expect(wedged.count('GET')).toBe(codes.length);
  });

  it('on the hot path the overall deadline still ends a request whose attempts are all refused before the first attempt timer fires', async () => {
    const host = 'warm-all-dead.rt.test';
    const dead = ['127.0.27.33', '127.0.27.34'];
    dns.setRecords(host, { a: dead });
    const agent = await warmAgent(host, { attemptTimeout: 5_000, deadline: 800, maxAttempts: 1000, backoff: { initialDelay: 25, maxDelay: 100 } });
    const started = performance.now();
    const err = await rejection(request(`http://${host}:${PORT}/items`, { dispatcher: agent }));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(2_500);
    const e = err as DeadlineExceededError;
    expect(e.attempts.length).toBeGreaterThan(2);
    // The whole deadline is used: the last probe may still be on its way when it passes.
    const last = e.attempts.at(-1)!;
    for (const a of e.attempts.slice(0, -1)) expect(a.code).toBe('ECONNREFUSED');
    expect(['ECONNREFUSED', 'RIDETHROUGH_DEADLINE_EXCEEDED']).toContain(last.code);
  });

  it('on the hot path a retried 503 whose body takes longer than attemptTimeout to drain is drained, not cut: the retry reuses the connection', async () => {
    const host = 'warm-slow-503.rt.test';
    dns.setRecords(host, { a: ['127.0.27.35'] });
    let n = 0;
    const p = await pod('slow-503', '127.0.27.35', (req, res, self) => {
      if (++n > 1) {
        answerOk(req, res, self);
        return;
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '10' });
        res.write('unava');
        setTimeout(() => res.end('lable'), 500);
      });
    });
    const agent = await warmAgent(host, { attemptTimeout: 200, backoff: { initialDelay: 10, maxDelay: 20 } });
    const retries = watchRetries();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('slow-503');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.reason).toBe('HTTP 503');
    expect(p.count('GET')).toBe(2);
    expect(p.connections).toBe(1);
  });

  it('through resilience() on an undici Agent: a wedged replica times out and the GET is retried on the other', async () => {
    const host = 'wedged-interceptor.rt.test';
    dns.setRecords(host, { a: ['127.0.27.24', '127.0.27.25'] });
    const wedged = await pod('wedged', '127.0.27.24', () => {});
    await pod('ok', '127.0.27.25');
    const retries = watchRetries();
    const base = new Agent();
    const dispatcher = base.compose(resilience({ dns: dnsOptions(), attemptTimeout: 300, balancer: 'round-robin' }));
    try {
      // Round-robin: within two requests one goes to the wedged replica first.
      for (let i = 0; i < 2; i++) {
        const res = await request(`http://${host}:${PORT}/items`, { dispatcher });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe('ok');
      }
      expect(wedged.count('GET')).toBeGreaterThanOrEqual(1);
      expect(retries).toHaveLength(wedged.count('GET'));
      for (const r of retries) expect(r).toMatchObject({ address: '127.0.27.24', reason: 'UND_ERR_HEADERS_TIMEOUT' });
    } finally {
      await base.destroy();
    }
  });
});

describe('after the response was handed to the caller', () => {
  it('a body error reaches the caller and the GET is not retried', async () => {
    const host = 'mid-body.rt.test';
    dns.setRecords(host, { a: ['127.0.27.10'] });
    const f = await fault('127.0.27.10', { mode: 'reset-mid-body' });
    const retries = watchRetries();
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/items`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    const err = await rejection(res.body.text());
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(errorCode(err));
    await sleep(300);
    expect(f.count('GET')).toBe(1);
    expect(retries).toHaveLength(0);
  });
});
