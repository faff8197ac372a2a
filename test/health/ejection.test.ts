/**
 * Outlier ejection per endpoint address and the balancer: an address answering 503 is taken out of
 * rotation after `consecutiveFailures` and only gets trial traffic (ejection time doubling); the share
 * of ejected addresses stays within `maxPercent` for 5xx; connect failures eject at once whatever the
 * share, and when every address is ejected the least bad one is still tried. Real parts only: a UDP
 * DNS server and HTTP pods on 127.0.91.x.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DeadlineExceededError } from '../../src/errors/errors.js';
import { type EndpointEvent, channelNames } from '../../src/events/channels.js';
import { type Pod, type PodBehaviour, answerOk } from '@ridethrough/testbed';
import { type Cluster, failures, recordChannel, steadyStream, waitFor } from '../support/cluster.js';
import { agentFor, endpointStats, originStats, rejection, send, useCluster } from './support/helpers.js';

const PORT = 18_091;

const start = useCluster('127.0.91.53');

const unavailable: PodBehaviour = (req, res) => {
  req.resume();
  res.statusCode = 503;
  res.end('unavailable');
};

function recordEndpoints(c: Cluster): { ejected: EndpointEvent[]; restored: EndpointEvent[] } {
  const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
  const restored = recordChannel<EndpointEvent>(channelNames.endpointRestored);
  c.defer(() => ejected.stop());
  c.defer(() => restored.stop());
  return {
    get ejected() {
      return ejected.events.map((e) => e.message);
    },
    get restored() {
      return restored.events.map((e) => e.message);
    },
  };
}

describe('outlier ejection', () => {
  it('of three replicas, the one answering 503 gets only trial requests after the threshold, then is restored when it recovers', async () => {
    const c = await start();
    const a = await c.startPod('a', '127.0.91.1', PORT);
    const b = await c.startPod('b', '127.0.91.2', PORT);
    const bad = await c.startPod('bad', '127.0.91.3', PORT, unavailable);
    c.publish('trio.ejection.test', ['127.0.91.1', '127.0.91.2', '127.0.91.3'], 30);
    const origin = `http://trio.ejection.test:${PORT}`;
    const agent = agentFor(c, { ejection: { consecutiveFailures: 3, baseTime: 400, maxTime: 3_000 }, breaker: false });
    const events = recordEndpoints(c);

    const results = await steadyStream(() => send(agent, `${origin}/`), { rate: 50, durationMs: 4_000 });

    // Every request succeeded: a 503 is retried on another replica.
    expect(failures(results)).toEqual([]);
    expect(results.every((r) => r.body === 'a' || r.body === 'b')).toBe(true);
    const badEjections = events.ejected.filter((e) => e.address === '127.0.91.3');
    expect(events.ejected.filter((e) => e.address !== '127.0.91.3')).toEqual([]);
    // 400 ms, then 800, 1600, 3000 (capped) with ±15 % jitter: three or four ejections in 4 s.
    expect(badEjections.length).toBeGreaterThanOrEqual(3);
    expect(badEjections.every((e) => e.reason === 'HTTP 503')).toBe(true);
    const times = badEjections.map((e) => e.ejectedForMs);
    expect(times[0]).toBeGreaterThanOrEqual(340);
    expect(times[0]).toBeLessThanOrEqual(460);
    expect(times[1]).toBeGreaterThanOrEqual(680);
    expect(times[1]).toBeLessThanOrEqual(920);
    expect(times[2]).toBeGreaterThanOrEqual(1_360);
    expect(times[2]).toBeLessThanOrEqual(1_840);
    // The threshold (3) plus about one trial request per ejection that ended, against ~67 without ejection.
    expect(bad.count()).toBeGreaterThanOrEqual(3 + badEjections.length - 1);
    expect(bad.count()).toBeLessThanOrEqual(3 + badEjections.length + 3);
    expect(a.count() + b.count()).toBe(results.length);

    let stats = originStats(agent, origin);
    expect(stats.endpoints).toHaveLength(3);
    const badStats = endpointStats(agent, origin, '127.0.91.3');
    expect(badStats).toMatchObject({ attempts: bad.count(), failures: bad.count(), ejections: badEjections.length, inFlight: 0 });
    expect(badStats.consecutiveFailures).toBe(bad.count());
    for (const [address, pod] of [
      ['127.0.91.1', a],
      ['127.0.91.2', b],
    ] as const) {
      expect(endpointStats(agent, origin, address)).toMatchObject({
        state: 'healthy',
        attempts: pod.count(),
        failures: 0,
        consecutiveFailures: 0,
        ejections: 0,
        ejectedUntil: 0,
        inFlight: 0,
      });
    }

    // The replica recovers: once its ejection ends, a trial request succeeds and restores it.
    bad.behaviour = answerOk;
    const badBefore = bad.count();
    const until = Date.now() + 6_000;
    while (events.restored.length === 0 && Date.now() < until) {
      expect((await send(agent, `${origin}/`)).status).toBe(200);
      await sleep(20);
    }
    expect(events.restored.map((e) => e.address)).toEqual(['127.0.91.3']);
    expect(bad.count()).toBe(badBefore + 1);
    stats = originStats(agent, origin);
    expect(endpointStats(agent, origin, '127.0.91.3')).toMatchObject({ state: 'healthy', consecutiveFailures: 0, ejectedUntil: 0 });
    expect(stats.endpoints.every((e) => e.inFlight === 0)).toBe(true);
    // Back in rotation: it takes its share again.
    for (let n = 0; n < 30; n++) expect((await send(agent, `${origin}/`)).status).toBe(200);
    expect(bad.count()).toBeGreaterThan(badBefore + 3);
  });

  for (const [maxPercent, most] of [
    [50, 1],
    [70, 2],
    [0, 0],
  ] as const) {
    it(`when all three answer 503, at most ${most} of 3 are ejected at once (maxPercent ${maxPercent})`, async () => {
      const c = await start();
      const pods: Pod[] = [];
      for (let i = 1; i <= 3; i++) pods.push(await c.startPod(`sick${i}`, `127.0.91.${10 + i}`, PORT, unavailable));
      c.publish(
        'sick.ejection.test',
        pods.map((p) => p.address),
        30,
      );
      const origin = `http://sick.ejection.test:${PORT}`;
      const agent = agentFor(c, {
        ejection: { consecutiveFailures: 2, baseTime: 5_000, maxPercent },
        breaker: false,
        budget: false,
        maxAttempts: 3,
        backoff: { initialDelay: 1, maxDelay: 5 },
      });
      const events = recordEndpoints(c);

      let mostSeen = 0;
      for (let n = 0; n < 40; n++) {
        expect((await send(agent, `${origin}/`)).status).toBe(503);
        const ejected = originStats(agent, origin).endpoints.filter((e) => e.state === 'ejected').length;
        mostSeen = Math.max(mostSeen, ejected);
      }
      expect(mostSeen).toBe(most);
      expect(events.ejected).toHaveLength(most);
      const stats = originStats(agent, origin);
      expect(stats.endpoints.filter((e) => e.state === 'ejected')).toHaveLength(most);
      // The ones not ejected kept taking every request: 40 requests × 3 attempts in all.
      expect(pods.reduce((n, p) => n + p.count(), 0)).toBe(120);
      for (const p of pods) {
        const e = endpointStats(agent, origin, p.address);
        expect(e.attempts).toBe(p.count());
        expect(e.failures).toBe(p.count());
        expect(e.inFlight).toBe(0);
      }
    });
  }

  it('connect failures eject at once whatever maxPercent; with every address ejected the least bad one is still tried', async () => {
    const c = await start();
    c.publish('gone.ejection.test', ['127.0.91.21', '127.0.91.22'], 30);
    const origin = `http://gone.ejection.test:${PORT}`;
    // maxAttempts far above what 400 ms can hold: the deadline, not the attempt count, must end it (with
    // the default 25, fast refusals and short jittered backoffs sometimes used up the attempts first).
    const agent = agentFor(c, {
      ejection: { maxPercent: 0, baseTime: 10_000 },
      breaker: false,
      deadline: 400,
      maxAttempts: 1_000,
      backoff: { initialDelay: 10, maxDelay: 40 },
    });
    const events = recordEndpoints(c);

    const err = await rejection(send(agent, `${origin}/`));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const attempts = (err as DeadlineExceededError).attempts;
    // It kept trying (the ejected addresses in turn) until the deadline, rather than giving up with no endpoint.
    expect(attempts.length).toBeGreaterThan(2);
    expect(new Set(attempts.map((x) => x.address))).toEqual(new Set(['127.0.91.21', '127.0.91.22']));
    expect(attempts.every((x) => x.code === 'ECONNREFUSED' || x.code === 'RIDETHROUGH_DEADLINE_EXCEEDED')).toBe(true);
    expect(new Set(events.ejected.map((e) => e.address))).toEqual(new Set(['127.0.91.21', '127.0.91.22']));
    expect(events.ejected.every((e) => e.reason === 'ECONNREFUSED')).toBe(true);
    expect(originStats(agent, origin).endpoints.every((e) => e.state === 'ejected' && e.ejections === 1)).toBe(true);

    // One comes back while both are still ejected (for ~10 s): it is tried, answers, and is restored.
    const back = await c.startPod('back', '127.0.91.22', PORT);
    const t0 = performance.now();
    expect(await send(agent, `${origin}/`)).toEqual({ status: 200, body: 'back' });
    expect(performance.now() - t0).toBeLessThan(400);
    expect(back.count()).toBe(1);
    await waitFor(() => events.restored.length > 0, 1_000, 'restored event');
    expect(events.restored.map((e) => e.address)).toEqual(['127.0.91.22']);
    expect(endpointStats(agent, origin, '127.0.91.22')).toMatchObject({ state: 'healthy', consecutiveFailures: 0 });
    expect(endpointStats(agent, origin, '127.0.91.21').state).toBe('ejected');
    // The restored one now takes the traffic; the dead one stays out.
    for (let n = 0; n < 5; n++) expect((await send(agent, `${origin}/`)).body).toBe('back');
    expect(back.count()).toBe(6);
  });
});

describe('balancer', () => {
  it('round-robin spreads sequential requests evenly', async () => {
    const c = await start();
    const pods: Pod[] = [];
    for (let i = 1; i <= 3; i++) pods.push(await c.startPod(`rr${i}`, `127.0.91.${30 + i}`, PORT));
    c.publish(
      'rr.ejection.test',
      pods.map((p) => p.address),
      30,
    );
    const agent = agentFor(c, { balancer: 'round-robin' });
    for (let n = 0; n < 30; n++) expect((await send(agent, `http://rr.ejection.test:${PORT}/`)).status).toBe(200);
    expect(pods.map((p) => p.count())).toEqual([10, 10, 10]);
  });

  it('p2c spreads sequential requests evenly: with nothing in flight the tie goes to the endpoint next in rotation', async () => {
    const c = await start();
    const pods: Pod[] = [];
    for (let i = 1; i <= 3; i++) pods.push(await c.startPod(`p2c-even${i}`, `127.0.91.${60 + i}`, PORT));
    c.publish(
      'p2c-even.ejection.test',
      pods.map((p) => p.address),
      30,
    );
    const agent = agentFor(c, { balancer: 'p2c' });
    for (let n = 0; n < 30; n++) expect((await send(agent, `http://p2c-even.ejection.test:${PORT}/`)).status).toBe(200);
    expect(pods.map((p) => p.count())).toEqual([10, 10, 10]);
  });

  it('p2c sends most concurrent requests to the replica with fewer in flight (a slow one gets few)', async () => {
    const c = await start();
    const fast = await c.startPod('fast', '127.0.91.41', PORT);
    const slow = await c.startPod('slow', '127.0.91.42', PORT, (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow'), 400);
    });
    c.publish('p2c.ejection.test', ['127.0.91.41', '127.0.91.42'], 30);
    const origin = `http://p2c.ejection.test:${PORT}`;
    // Silence detection off: a replica 400 ms slower than its peer would be hedged away from, not balanced.
    const agent = agentFor(c, { balancer: 'p2c', silentEndpoint: false });
    const results = await steadyStream(() => send(agent, `${origin}/`), { rate: 50, durationMs: 2_000 });
    expect(failures(results)).toEqual([]);
    // Requests queue up on the slow one, so new ones go to the fast one; round-robin would split 50/50.
    expect(slow.count()).toBeLessThan(results.length * 0.25);
    expect(fast.count()).toBe(results.length - slow.count());
    const stats = originStats(agent, origin);
    expect(stats.endpoints.every((e) => e.inFlight === 0)).toBe(true);
    expect(endpointStats(agent, origin, '127.0.91.42').latencyMs).toBeGreaterThan(endpointStats(agent, origin, '127.0.91.41').latencyMs);
    expect(stats.latencyP50Ms).toBeDefined();
  });
});
