/**
 * The per-origin circuit breaker: it counts whole requests (after retries), opens after the configured
 * unhealthy outcomes, fails fast without touching a socket while open, lets exactly one probe through
 * when half-open and closes on its success. Real parts only: a UDP DNS server and HTTP pods on
 * 127.0.90.x; "dead" addresses are loopback addresses with no listener (connections refused).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CircuitOpenError, DeadlineExceededError, DnsResolutionError, RidethroughError } from '../../src/errors/errors.js';
import { type BreakerEvent, channelNames } from '../../src/events/channels.js';
import { type Cluster, recordChannel } from '../support/cluster.js';
import { agentFor, originStats, recordConnects, rejection, send, useCluster } from './support/helpers.js';

const PORT = 18_090;

const start = useCluster('127.0.90.53');

function breakerEvents(c: Cluster, origin: string): () => string[] {
  const rec = recordChannel<BreakerEvent>(channelNames.breaker);
  c.defer(() => rec.stop());
  return () => rec.events.filter((e) => e.message.origin === origin).map((e) => e.message.state);
}

describe('circuit breaker (consecutive)', () => {
  it('opens after `threshold` unhealthy requests, then fails fast without a connection until the probe, which closes it', async () => {
    const c = await start();
    c.publish('dead.breaker.test', ['127.0.90.1'], 30);
    c.publish('other.breaker.test', ['127.0.90.2'], 30);
    const other = await c.startPod('other', '127.0.90.2', PORT);
    const origin = `http://dead.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 3, halfOpenAfter: 1_500 }, deadline: 300, backoff: { initialDelay: 10, maxDelay: 50 } });
    const states = breakerEvents(c, origin);
    const connects = recordConnects(c);

    // Three requests to a single dead replica: each retries until its deadline, then gives up.
    for (let i = 0; i < 3; i++) {
      const err = await rejection(send(agent, `${origin}/x`));
      expect(err).toBeInstanceOf(DeadlineExceededError);
      if (i < 2) expect(originStats(agent, origin).breaker).toBe('closed');
    }
    expect(connects.count('127.0.90.1')).toBeGreaterThanOrEqual(3);
    expect(states()).toEqual(['open']);
    const opened = originStats(agent, origin);
    expect(opened.breaker).toBe('open');
    expect(opened.breakerRetryAt).toBeGreaterThan(Date.now());
    expect(opened.endpoints).toMatchObject([{ address: '127.0.90.1', state: 'ejected', inFlight: 0 }]);
    // Every refused connect is a failure (one cut short by a deadline may still be reporting).
    expect(opened.endpoints[0]!.failures).toBeGreaterThanOrEqual(connects.count('127.0.90.1') - 3);
    expect(opened.endpoints[0]!.failures).toBeLessThanOrEqual(connects.count('127.0.90.1'));

    // A pod comes back at the address; while the breaker is open it must see no connection at all.
    const revived = await c.startPod('revived', '127.0.90.1', PORT);
    const connectsBefore = connects.count('127.0.90.1');
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const err = await rejection(send(agent, `${origin}/x`));
      expect(err).toBeInstanceOf(CircuitOpenError);
      expect((err as CircuitOpenError).code).toBe('RIDETHROUGH_CIRCUIT_OPEN');
      expect((err as CircuitOpenError).retryAt).toBe(opened.breakerRetryAt);
      expect((err as CircuitOpenError).attempts).toEqual([]);
      // "At once": far below the 300 ms deadline a real attempt would have used.
      expect(performance.now() - t0).toBeLessThan(150);
    }
    expect(connects.count('127.0.90.1')).toBe(connectsBefore);
    expect(revived.connections).toBe(0);
    expect(revived.count()).toBe(0);

    // Another origin is not affected by this origin's breaker.
    expect(await send(agent, `http://other.breaker.test:${PORT}/`)).toEqual({ status: 200, body: 'other' });
    expect(other.count()).toBe(1);
    expect(originStats(agent, `http://other.breaker.test:${PORT}`).breaker).toBe('closed');

    // Once the probe time comes, the next request is the probe; it succeeds and closes the breaker.
    const retryAt = opened.breakerRetryAt!;
    await sleep(Math.max(0, retryAt - Date.now()) + 20);
    expect(await send(agent, `${origin}/probe`)).toEqual({ status: 200, body: 'revived' });
    const closedAt = Date.now();
    // Closed within one probe interval of the pod coming back.
    expect(closedAt - retryAt).toBeLessThan(1_500);
    expect(revived.count()).toBe(1);
    expect(states()).toEqual(['open', 'half-open', 'closed']);
    const closed = originStats(agent, origin);
    expect(closed.breaker).toBe('closed');
    expect(closed.breakerRetryAt).toBeUndefined();
    expect(closed.endpoints).toMatchObject([{ address: '127.0.90.1', state: 'healthy', consecutiveFailures: 0, inFlight: 0 }]);

    // Closed again: traffic flows normally.
    for (let i = 0; i < 5; i++) expect((await send(agent, `${origin}/y`)).status).toBe(200);
    expect(revived.count()).toBe(6);
  });

  it('half-open lets exactly one probe through; the others fail fast; a failed probe re-opens it', async () => {
    const c = await start();
    c.publish('probe.breaker.test', ['127.0.90.5'], 30);
    const origin = `http://probe.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 2, halfOpenAfter: 500 }, deadline: 250, backoff: { initialDelay: 10, maxDelay: 50 } });
    const states = breakerEvents(c, origin);
    const connects = recordConnects(c);

    for (let i = 0; i < 2; i++) expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    expect(originStats(agent, origin).breaker).toBe('open');
    const firstRetryAt = originStats(agent, origin).breakerRetryAt!;

    // The probe goes out while the address is still dead: it fails and the breaker opens again.
    await sleep(Math.max(0, firstRetryAt - Date.now()) + 20);
    const before = connects.count('127.0.90.5');
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    expect(connects.count('127.0.90.5')).toBeGreaterThan(before);
    expect(states()).toEqual(['open', 'half-open', 'open']);
    const secondRetryAt = originStats(agent, origin).breakerRetryAt!;
    expect(secondRetryAt).toBeGreaterThan(firstRetryAt);
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(CircuitOpenError);

    // A slow pod appears; at probe time five requests arrive together: one probe, four fast failures.
    const pod = await c.startPod('slow', '127.0.90.5', PORT, (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow'), 120);
    });
    await sleep(Math.max(0, secondRetryAt - Date.now()) + 20);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => send(agent, `${origin}/`)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(4);
    for (const f of failed) expect(f.reason).toBeInstanceOf(CircuitOpenError);
    expect(pod.count()).toBe(1);
    expect(pod.connections).toBe(1);
    expect(states()).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
    expect(originStats(agent, origin).breaker).toBe('closed');
  });

  it('halfOpenSampling: `calls` probes go through together; more than `threshold` of them failing re-opens it, all ending below it closes it', async () => {
    const c = await start();
    c.publish('sampled.breaker.test', ['127.0.90.15'], 30);
    const origin = `http://sampled.breaker.test:${PORT}`;
    const agent = agentFor(c, {
      breaker: { threshold: 2, halfOpenAfter: 500, halfOpenSampling: { calls: 3, threshold: 0.34 } },
      deadline: 250,
      backoff: { initialDelay: 10, maxDelay: 50 },
    });
    const states = breakerEvents(c, origin);
    const together = () => Promise.allSettled(Array.from({ length: 5 }, () => send(agent, `${origin}/`)));
    const reasons = (results: PromiseSettledResult<unknown>[]) =>
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as RidethroughError).code)).sort();

    for (let i = 0; i < 2; i++) expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    expect(states()).toEqual(['open']);

    // Still dead at probe time: three of five requests probe; two failures exceed 34 % of 3 and re-open it.
    await sleep(Math.max(0, originStats(agent, origin).breakerRetryAt! - Date.now()) + 20);
    expect(reasons(await together())).toEqual([
      'RIDETHROUGH_CIRCUIT_OPEN',
      'RIDETHROUGH_CIRCUIT_OPEN',
      'RIDETHROUGH_DEADLINE_EXCEEDED',
      'RIDETHROUGH_DEADLINE_EXCEEDED',
      'RIDETHROUGH_DEADLINE_EXCEEDED',
    ]);
    expect(states()).toEqual(['open', 'half-open', 'open']);

    // A slow pod appears: three probes succeed, and only once all three ended does the breaker close.
    const pod = await c.startPod('sampled', '127.0.90.15', PORT, (req, res) => {
      req.resume();
      setTimeout(() => res.end('sampled'), 120);
    });
    await sleep(Math.max(0, originStats(agent, origin).breakerRetryAt! - Date.now()) + 20);
    expect(reasons(await together())).toEqual(['RIDETHROUGH_CIRCUIT_OPEN', 'RIDETHROUGH_CIRCUIT_OPEN', 'ok', 'ok', 'ok']);
    expect(pod.count()).toBe(3);
    expect(states()).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('final 502/503/504 responses count as unhealthy and open it; the caller still gets the responses', async () => {
    const c = await start();
    let status = 503;
    const pod = await c.startPod('sick', '127.0.90.6', PORT, (req, res) => {
      req.resume();
      res.statusCode = status;
      res.end('sick');
    });
    c.publish('sick.breaker.test', ['127.0.90.6'], 30);
    const origin = `http://sick.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 3, halfOpenAfter: 10_000 }, maxAttempts: 2, backoff: { initialDelay: 5, maxDelay: 10 } });

    for (const s of [502, 503, 504]) {
      status = s;
      expect((await send(agent, `${origin}/`)).status).toBe(s);
    }
    // Each request was tried twice (a retry on the status), then handed over.
    expect(pod.count()).toBe(6);
    expect(originStats(agent, origin).breaker).toBe('open');
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(CircuitOpenError);
    expect(pod.count()).toBe(6);
  });

  it('requests that hit their deadline on a hanging endpoint count as unhealthy and open it', async () => {
    const c = await start();
    const pod = await c.startPod('wedged', '127.0.90.12', PORT, (req) => {
      req.resume();
      // Accepts the request and never answers.
    });
    c.publish('wedged.breaker.test', ['127.0.90.12'], 30);
    const origin = `http://wedged.breaker.test:${PORT}`;
    // The deadline (300 ms) ends each request while its only attempt is still waiting for headers.
    const agent = agentFor(c, { breaker: { threshold: 2, halfOpenAfter: 10_000 }, deadline: 300, attemptTimeout: 5_000 });
    for (let n = 0; n < 2; n++) {
      const err = await rejection(send(agent, `${origin}/`));
      expect(err).toBeInstanceOf(DeadlineExceededError);
      // The attempt cut short by the deadline is part of the record.
      expect((err as DeadlineExceededError).attempts).toMatchObject([{ attempt: 1, address: '127.0.90.12', maybeSent: true }]);
    }
    expect(pod.count()).toBe(2);
    expect(originStats(agent, origin).breaker).toBe('open');
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(CircuitOpenError);
    expect(pod.count()).toBe(2);
  });

  it('a probe the caller aborts says nothing: the breaker stays half-open and the next request probes', async () => {
    const c = await start();
    c.publish('abort-probe.breaker.test', ['127.0.90.14'], 30);
    const origin = `http://abort-probe.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 2, halfOpenAfter: 300 }, deadline: 250, backoff: { initialDelay: 10, maxDelay: 50 } });
    const states = breakerEvents(c, origin);
    for (let i = 0; i < 2; i++) expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    expect(originStats(agent, origin).breaker).toBe('open');

    // A pod comes up that is slow on /slow: the probe goes there and its caller gives up on it.
    const pod = await c.startPod('back', '127.0.90.14', PORT, (req, res) => {
      req.resume();
      if (req.url !== '/slow') res.end('back');
    });
    await sleep(Math.max(0, originStats(agent, origin).breakerRetryAt! - Date.now()) + 20);
    const ac = new AbortController();
    const probe = send(agent, `${origin}/slow`, { signal: ac.signal });
    await sleep(60);
    // While the probe is out, others fail fast.
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(CircuitOpenError);
    ac.abort(new Error('caller gave up'));
    expect(await rejection(probe)).not.toBeInstanceOf(RidethroughError);
    expect(originStats(agent, origin).breaker).toBe('half-open');
    expect(states()).toEqual(['open', 'half-open']);

    // The next request is the probe; it succeeds and closes the breaker.
    expect(await send(agent, `${origin}/`)).toEqual({ status: 200, body: 'back' });
    expect(states()).toEqual(['open', 'half-open', 'closed']);
    expect(pod.count()).toBe(2);
  });

  it('4xx responses never open it, however many', async () => {
    const c = await start();
    const statuses = [400, 401, 403, 404, 409, 422, 429];
    let i = 0;
    const pod = await c.startPod('picky', '127.0.90.7', PORT, (req, res) => {
      req.resume();
      res.statusCode = statuses[i++ % statuses.length]!;
      res.end('no');
    });
    c.publish('picky.breaker.test', ['127.0.90.7'], 30);
    const origin = `http://picky.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 2, halfOpenAfter: 10_000 } });
    const states = breakerEvents(c, origin);

    const seen: number[] = [];
    for (let n = 0; n < 21; n++) seen.push((await send(agent, `${origin}/`)).status);
    expect(seen).toEqual([...statuses, ...statuses, ...statuses]);
    expect(pod.count()).toBe(21);
    expect(states()).toEqual([]);
    const stats = originStats(agent, origin);
    expect(stats.breaker).toBe('closed');
    // 4xx are answers, not endpoint failures.
    expect(stats.endpoints).toMatchObject([{ address: '127.0.90.7', state: 'healthy', attempts: 21, failures: 0, consecutiveFailures: 0, inFlight: 0 }]);
  });

  it('DNS failures and caller aborts are neutral: they never open it', async () => {
    const c = await start();
    const pod = await c.startPod('hang', '127.0.90.8', PORT, (req) => {
      req.resume();
      // Never answers: only the caller's abort ends these requests.
    });
    c.publish('hang.breaker.test', ['127.0.90.8'], 30);
    const agent = agentFor(c, { breaker: { threshold: 2, halfOpenAfter: 10_000 }, deadline: 400, dns: { negativeTtl: 0 } });
    const states = recordChannel<BreakerEvent>(channelNames.breaker);
    c.defer(() => states.stop());

    // NXDOMAIN: the name does not exist.
    for (let n = 0; n < 4; n++) {
      const err = await rejection(send(agent, `http://missing.breaker.test:${PORT}/`));
      expect(err).toBeInstanceOf(DnsResolutionError);
    }
    expect(originStats(agent, `http://missing.breaker.test:${PORT}`).breaker).toBe('closed');

    // Requests the caller aborts while the pod is thinking.
    const origin = `http://hang.breaker.test:${PORT}`;
    for (let n = 0; n < 4; n++) {
      const ac = new AbortController();
      const p = send(agent, `${origin}/`, { signal: ac.signal });
      await sleep(60);
      ac.abort(new Error('caller gave up'));
      const err = await rejection(p);
      expect(err).not.toBeInstanceOf(RidethroughError);
    }
    expect(pod.count()).toBe(4);
    expect(originStats(agent, origin).breaker).toBe('closed');
    expect(states.events).toEqual([]);
  });

  it('a neutral outcome does not reset the unhealthy streak either', async () => {
    const c = await start();
    c.publish('streak.breaker.test', ['127.0.90.13'], 30);
    const origin = `http://streak.breaker.test:${PORT}`;
    const agent = agentFor(c, { breaker: { threshold: 3, halfOpenAfter: 10_000 }, deadline: 250, backoff: { initialDelay: 10, maxDelay: 50 } });

    // Two unhealthy requests (the single replica is dead)...
    for (let n = 0; n < 2; n++) expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    // ...one the caller aborts while it is retrying (neutral)...
    const ac = new AbortController();
    const p = send(agent, `${origin}/`, { signal: ac.signal });
    await sleep(60);
    ac.abort(new Error('caller gave up'));
    expect(await rejection(p)).not.toBeInstanceOf(RidethroughError);
    expect(originStats(agent, origin).breaker).toBe('closed');
    // ...and a third unhealthy one: three in a row, not counting the neutral one.
    expect(await rejection(send(agent, `${origin}/`))).toBeInstanceOf(DeadlineExceededError);
    expect(originStats(agent, origin).breaker).toBe('open');
  });
});

describe('circuit breaker (sampling)', () => {
  it('opens when the unhealthy ratio over the window passes the threshold, not below it', async () => {
    const c = await start();
    const pod = await c.startPod('mixed', '127.0.90.9', PORT, (req, res) => {
      req.resume();
      res.statusCode = req.url === '/fail' ? 503 : 200;
      res.end();
    });
    c.publish('mixed.breaker.test', ['127.0.90.9'], 30);
    const origin = `http://mixed.breaker.test:${PORT}`;
    // A 10 s window (nothing leaves it during the test), at least 1 request/s in it (10 requests) before
    // it may open; it opens when more than 50 % of the requests in the window were unhealthy.
    const agent = agentFor(c, {
      breaker: { mode: 'sampling', threshold: 0.5, duration: 10_000, minimumRps: 1, halfOpenAfter: 10_000 },
      maxAttempts: 1,
    });
    const states = breakerEvents(c, origin);

    // 30 % unhealthy (never above 40 % once 10 requests are in): stays closed.
    for (let n = 0; n < 20; n++) {
      const path = [0, 4, 7].includes(n % 10) ? '/fail' : '/ok';
      expect((await send(agent, `${origin}${path}`)).status).toBe(path === '/fail' ? 503 : 200);
    }
    expect(originStats(agent, origin).breaker).toBe('closed');
    expect(states()).toEqual([]);

    // Now only failures: 6 of 20 failed, so with k more the ratio (6+k)/(20+k) first exceeds 0.5 at k = 9.
    let sent = 0;
    while (originStats(agent, origin).breaker === 'closed' && sent < 30) {
      expect((await send(agent, `${origin}/fail`)).status).toBe(503);
      sent++;
    }
    expect(states()).toEqual(['open']);
    expect(sent).toBe(9);
    expect(pod.count()).toBe(20 + sent);
    expect(await rejection(send(agent, `${origin}/ok`))).toBeInstanceOf(CircuitOpenError);
  });

  it('does not open below minimumRps, even when every request fails', async () => {
    const c = await start();
    await c.startPod('down', '127.0.90.10', PORT, (req, res) => {
      req.resume();
      res.statusCode = 503;
      res.end();
    });
    c.publish('quiet.breaker.test', ['127.0.90.10'], 30);
    const origin = `http://quiet.breaker.test:${PORT}`;
    // Needs 10 requests/s over 1 s = 10 requests in the window; 6 failures are too few to judge.
    const agent = agentFor(c, { breaker: { mode: 'sampling', threshold: 0.5, duration: 1_000, minimumRps: 10 }, maxAttempts: 1 });
    for (let n = 0; n < 6; n++) expect((await send(agent, `${origin}/`)).status).toBe(503);
    expect(originStats(agent, origin).breaker).toBe('closed');
  });

  it('works with only `mode: "sampling"` given (default ratio 0.5), with threshold 1 (open only when all fail) and with minimumRps 0 (no minimum)', async () => {
    const c = await start();
    await c.startPod('down', '127.0.90.11', PORT, (req, res) => {
      req.resume();
      res.statusCode = req.url === '/ok' ? 200 : 503;
      res.end();
    });
    c.publish('defaults.breaker.test', ['127.0.90.11'], 30);
    const origin = `http://defaults.breaker.test:${PORT}`;

    const byDefault = agentFor(c, { breaker: { mode: 'sampling', duration: 1_000, minimumRps: 5 }, maxAttempts: 1 });
    for (let n = 0; n < 10 && originStats2(byDefault) !== 'open'; n++) expect((await send(byDefault, `${origin}/`)).status).toBe(503);
    expect(originStats(byDefault, origin).breaker).toBe('open');

    const allOrNothing = agentFor(c, { breaker: { mode: 'sampling', threshold: 1, duration: 1_000, minimumRps: 5 }, maxAttempts: 1 });
    // One success in the window: a ratio below 1 never opens it.
    expect((await send(allOrNothing, `${origin}/ok`)).status).toBe(200);
    for (let n = 0; n < 8; n++) expect((await send(allOrNothing, `${origin}/`)).status).toBe(503);
    expect(originStats(allOrNothing, origin).breaker).toBe('closed');

    // minimumRps 0: no minimum volume; a single unhealthy request is a 100 % failure ratio.
    const noMinimum = agentFor(c, { breaker: { mode: 'sampling', threshold: 0.5, duration: 1_000, minimumRps: 0 }, maxAttempts: 1 });
    expect((await send(noMinimum, `${origin}/`)).status).toBe(503);
    expect(originStats(noMinimum, origin).breaker).toBe('open');

    function originStats2(agent: typeof byDefault): string | undefined {
      return agent.stats[origin]?.breaker;
    }
  });
});
