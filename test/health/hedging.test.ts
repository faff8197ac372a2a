/**
 * Hedging: an idempotent request with a replayable body that has no response headers after the hedge
 * delay is sent to a second endpoint; the first response wins and the other attempt is aborted (its
 * connection destroyed). Hedges are paid from the retry budget; non-idempotent requests are never
 * hedged. Real parts only: a UDP DNS server and HTTP pods on 127.0.93.x; the blackhole case uses a
 * real iptables DROP (root; under CI=true a missing root fails the suite).
 */
import { execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptEvent, type EndpointEvent, type HedgeEvent, type RetryEvent, channelNames } from '../../src/events/channels.js';
import { type Cluster, failures, recordChannel, steadyStream, waitFor } from '../support/cluster.js';
import { IptablesChain, iptablesUnavailableReason, type Pod } from '@ridethrough/testbed';
import { HEALTH_CHAIN, agentFor, endpointStats, originStats, send, useCluster } from './support/helpers.js';

const PORT = 18_093;

const start = useCluster('127.0.93.53');

/** Records `ridethrough:hedge` events; call the result for those so far. */
function recordHedges(c: Cluster): () => HedgeEvent[] {
  const rec = recordChannel<HedgeEvent>(channelNames.hedge);
  c.defer(() => rec.stop());
  return () => rec.events.map((e) => e.message);
}

/** When each server-side connection of `pod` closed (performance.now()), by the order they opened. */
function watchCloses(pod: Pod): number[] {
  const closes: number[] = [];
  pod.server.on('connection', (s: Socket) => s.on('close', () => closes.push(performance.now())));
  return closes;
}

describe('hedging (slow replica)', () => {
  async function slowAndFast(c: Cluster): Promise<{ slow: Pod; fast: Pod; origin: string }> {
    const slow = await c.startPod('slow', '127.0.93.1', PORT, (req, res) => {
      req.resume();
      const timer = setTimeout(() => res.end('slow'), 1_500);
      res.on('close', () => clearTimeout(timer));
    });
    const fast = await c.startPod('fast', '127.0.93.2', PORT);
    // Round-robin with the slow one listed first: every request's first attempt goes to the slow one.
    c.publish('pair.hedge.test', ['127.0.93.1', '127.0.93.2'], 30);
    return { slow, fast, origin: `http://pair.hedge.test:${PORT}` };
  }

  it('a GET slow to answer is hedged to the other replica; the fast answer wins and the slow attempt is aborted', async () => {
    const c = await start();
    const { slow, fast, origin } = await slowAndFast(c);
    const closes = watchCloses(slow);
    const agent = agentFor(c, { hedge: { delay: 50 }, balancer: 'round-robin' });
    const hedges = recordHedges(c);
    const attempts = recordChannel<AttemptEvent>(channelNames.attempt);
    c.defer(() => attempts.stop());

    for (let n = 0; n < 6; n++) {
      const t0 = performance.now();
      expect(await send(agent, `${origin}/items/${n}`)).toEqual({ status: 200, body: 'fast' });
      // Answered by the hedge, long before the slow replica's 1.5 s.
      expect(performance.now() - t0).toBeLessThan(1_000);
    }
    expect(hedges().length).toBe(6);
    for (const h of hedges()) {
      expect(h).toMatchObject({ origin, method: 'GET', address: '127.0.93.2' });
      expect(h.delayMs).toBeGreaterThanOrEqual(45);
    }
    // Each request: attempt 1 on the slow replica, then attempt 2, a hedge, on the fast one.
    expect(attempts.events.map((e) => e.message)).toEqual(
      Array.from({ length: 6 }, () => [
        { origin, method: 'GET', attempt: 1, address: '127.0.93.1', hedge: false },
        { origin, method: 'GET', attempt: 2, address: '127.0.93.2', hedge: true },
      ]).flat(),
    );
    expect(slow.count()).toBe(6);
    expect(fast.count()).toBe(6);
    // The losing attempts were aborted: each slow connection was closed by the client, not by a response.
    await waitFor(() => closes.length === 6, 1_000, 'the slow connections to close');
    expect(slow.connections).toBe(6);
    const stats = originStats(agent, origin);
    expect(stats.endpoints.map((e) => e.inFlight)).toEqual([0, 0]);
    expect(endpointStats(agent, origin, '127.0.93.1')).toMatchObject({ attempts: 6, failures: 0 });
    expect(endpointStats(agent, origin, '127.0.93.2')).toMatchObject({ attempts: 6, failures: 0 });
  });

  it('is never applied to a POST without an idempotency key, and a per-request override turns it on', async () => {
    const c = await start();
    const { slow, fast, origin } = await slowAndFast(c);
    const hedges = recordHedges(c);
    // A fresh agent per case, so that round-robin sends its first attempt to the slow replica.
    const fresh = () => agentFor(c, { balancer: 'round-robin' });

    // Agent-wide hedging is off by default: the slow replica answers.
    expect(await send(fresh(), `${origin}/a`)).toEqual({ status: 200, body: 'slow' });
    expect(hedges()).toEqual([]);
    // Per request: on for a GET...
    expect(await send(fresh(), `${origin}/b`, { ridethrough: { hedge: { delay: 30 } } })).toEqual({ status: 200, body: 'fast' });
    expect(hedges()).toHaveLength(1);
    // ...and ignored for a POST, which may not be sent twice.
    const post = await send(fresh(), `${origin}/c`, { method: 'POST', body: 'once', ridethrough: { hedge: { delay: 30 } } });
    expect(post).toEqual({ status: 200, body: 'slow' });
    expect(hedges()).toHaveLength(1);
    expect(slow.count('POST')).toBe(1);
    expect(fast.count('POST')).toBe(0);
    // A POST with an Idempotency-Key is idempotent: it is hedged, with the same body.
    const keyed = await send(fresh(), `${origin}/d`, {
      method: 'POST',
      body: 'keyed',
      headers: { 'idempotency-key': 'k-1' },
      ridethrough: { hedge: { delay: 30 } },
    });
    expect(keyed).toEqual({ status: 200, body: 'fast' });
    expect(hedges()).toHaveLength(2);
    expect(hedges()[1]!.method).toBe('POST');
    expect(fast.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual(['keyed']);
    // An agent-wide hedge is turned off for one request with `hedge: false`.
    const off = agentFor(c, { balancer: 'round-robin', hedge: { delay: 30 } });
    expect(await send(off, `${origin}/e`, { ridethrough: { hedge: false } })).toEqual({ status: 200, body: 'slow' });
    expect(hedges()).toHaveLength(2);
  });

  it('hedges are paid from the retry budget: with none left no hedge is sent', async () => {
    const c = await start();
    const { slow, fast, origin } = await slowAndFast(c);
    const agent = agentFor(c, { hedge: { delay: 30 }, balancer: 'round-robin', budget: { ratio: 0, minPerSecond: 0 } });
    const hedges = recordHedges(c);
    expect(await send(agent, `${origin}/`)).toEqual({ status: 200, body: 'slow' });
    expect(hedges().length).toBe(0);
    expect(fast.count()).toBe(0);
    expect(slow.count()).toBe(1);
    expect(originStats(agent, origin).budgetRefused).toBe(1);
  });

  it('with a percentile, the delay follows the observed latency (never below minDelay) once 20 samples exist', async () => {
    const c = await start();
    let slowMs = 0;
    const pods: Pod[] = [];
    for (const i of [1, 2]) {
      pods.push(
        await c.startPod(`p${i}`, `127.0.93.${10 + i}`, PORT, (req, res) => {
          req.resume();
          const timer = setTimeout(() => res.end(`p${i}`), slowMs);
          res.on('close', () => clearTimeout(timer));
        }),
      );
    }
    c.publish(
      'pct.hedge.test',
      pods.map((p) => p.address),
      30,
    );
    const origin = `http://pct.hedge.test:${PORT}`;
    // 1000 ms until 20 samples exist; then the p90 of recent times to headers, but at least 50 ms.
    const agent = agentFor(c, { hedge: { delay: 1_000, percentile: 90, minDelay: 50 }, budget: { ratio: 10, minPerSecond: 100 } });
    const hedges = recordHedges(c);

    // 20 fast answers: no hedge (the fixed delay is 1 s); the p90 is now a few ms.
    for (let n = 0; n < 20; n++) expect((await send(agent, `${origin}/`)).status).toBe(200);
    expect(hedges()).toEqual([]);
    expect(originStats(agent, origin).latencyP50Ms).toBeLessThan(50);

    // The replicas slow down to 400 ms: the next request is hedged after minDelay (50 ms), not after 1 s.
    slowMs = 400;
    const t0 = performance.now();
    expect((await send(agent, `${origin}/`)).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(900);
    expect(hedges()).toHaveLength(1);
    expect(hedges()[0]!.delayMs).toBeGreaterThanOrEqual(45);
    expect(hedges()[0]!.delayMs).toBeLessThan(400);
  });
});

const skipReason = iptablesUnavailableReason();
if (skipReason !== undefined) console.warn(`test/health/hedging.test.ts (blackhole) skipped: ${skipReason}`);

/** Client-side TCP connections in ESTABLISHED state to `address:port` (read with `ss`). */
function establishedTo(address: string, port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', 'dst', `${address}:${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

describe.skipIf(skipReason !== undefined)('hedging (blackholed replica, iptables DROP)', () => {
  const fw = new IptablesChain(HEALTH_CHAIN);

  beforeAll(() => {
    fw.setup();
  });

  afterEach(() => {
    fw.flush();
  });

  afterAll(() => {
    fw.cleanup();
  });

  it('one of two replicas blackholed: every GET succeeds without waiting for the attempt timeout; losing attempts are aborted', async () => {
    const c = await start();
    const dark = await c.startPod('dark', '127.0.93.21', PORT);
    const live = await c.startPod('live', '127.0.93.22', PORT);
    c.publish('dark.hedge.test', ['127.0.93.21', '127.0.93.22'], 30);
    const origin = `http://dark.hedge.test:${PORT}`;
    // Without hedging a request to the dark replica would wait 20 s (connect or headers timeout).
    // Round-robin: about half the requests send their first attempt to the dark replica.
    const agent = agentFor(c, {
      balancer: 'round-robin',
      hedge: { delay: 100 },
      attemptTimeout: 20_000,
      connectTimeout: 20_000,
      deadline: 30_000,
      budget: { ratio: 1, minPerSecond: 100 },
    });
    const hedges = recordHedges(c);
    const requestErrors: string[] = [];
    const onRequestError = (m: unknown): void => {
      const { request, error } = m as { request: { origin: string }; error: Error };
      requestErrors.push(`${request.origin} ${error.message}`);
    };
    diagnosticsChannel.subscribe('undici:request:error', onRequestError);
    c.defer(() => diagnosticsChannel.unsubscribe('undici:request:error', onRequestError));

    // Warm up: keep-alive connections to both replicas.
    for (let round = 0; round < 3; round++) {
      const warm = await Promise.all(Array.from({ length: 6 }, () => send(agent, `${origin}/warm`)));
      expect(warm.every((r) => r.status === 200)).toBe(true);
    }
    expect(dark.count()).toBeGreaterThan(0);
    const warmDark = establishedTo('127.0.93.21', PORT);
    expect(warmDark).toBeGreaterThan(0);
    const liveBefore = live.count();
    const darkAttemptsBefore = endpointStats(agent, origin, '127.0.93.21').attempts;

    // The node of the dark replica dies: every packet to it is silently dropped.
    fw.drop('127.0.93.21');
    const results = await steadyStream(() => send(agent, `${origin}/x`), { rate: 20, durationMs: 3_000 });

    expect(failures(results)).toEqual([]);
    expect(results.every((r) => r.body === 'live')).toBe(true);
    const slowest = Math.max(...results.map((r) => r.ms));
    expect(slowest).toBeLessThan(2_000);
    // Each request whose first attempt went to the dark replica was hedged to the live one after ~100 ms.
    const darkAttempts = endpointStats(agent, origin, '127.0.93.21').attempts - darkAttemptsBefore;
    expect(darkAttempts).toBeGreaterThanOrEqual(Math.max(warmDark, results.length / 4));
    expect(hedges()).toHaveLength(darkAttempts);
    for (const h of hedges()) {
      expect(h.address).toBe('127.0.93.22');
      expect(h.delayMs).toBeGreaterThanOrEqual(95);
    }
    expect(live.count() - liveBefore).toBe(results.length);

    // Nothing is left in flight, and the losers on kept-alive connections were aborted: those connections
    // were destroyed (no ESTABLISHED connection to the dark replica is left), well before any timeout.
    const stats = originStats(agent, origin);
    expect(stats.endpoints.map((e) => e.inFlight)).toEqual([0, 0]);
    await waitFor(() => establishedTo('127.0.93.21', PORT) === 0, 2_000, 'no established connection to the dark replica');
    // Every undici request that failed was a loser aborted on the dark replica (the live one never loses).
    const aborted = requestErrors.filter((e) => e.includes('another attempt answered first'));
    expect(aborted.length).toBeGreaterThanOrEqual(warmDark);
    expect(requestErrors.filter((e) => !e.includes('another attempt answered first'))).toEqual([]);
    expect(endpointStats(agent, origin, '127.0.93.22')).toMatchObject({ failures: 0, state: 'healthy' });
  });

  it('a hedge that lost while still connecting to the blackholed replica gets it ejected when the connect times out', async () => {
    const c = await start();
    await c.startPod('dark', '127.0.93.31', PORT);
    const live = await c.startPod('live', '127.0.93.32', PORT);
    c.publish('eject.hedge.test', ['127.0.93.31', '127.0.93.32'], 30);
    const origin = `http://eject.hedge.test:${PORT}`;
    fw.drop('127.0.93.31');
    // connectTimeout 1000 (default); round-robin keeps offering the dark replica until it is ejected.
    const agent = agentFor(c, { balancer: 'round-robin', hedge: { delay: 50 }, budget: { ratio: 1, minPerSecond: 100 }, ejection: { baseTime: 10_000 } });
    const hedges = recordHedges(c);
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    c.defer(() => ejected.stop());
    const moved = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => moved.stop());

    const results = await steadyStream(() => send(agent, `${origin}/`), { rate: 20, durationMs: 3_000 });
    expect(failures(results)).toEqual([]);
    expect(live.count()).toBe(results.length);
    // Every attempt on the dark replica lost to its hedge; the first of those connects timed out after
    // ~1 s and ejected the address (before the fix it stayed "healthy" with 0 failures forever).
    expect(ejected.events.map((e) => [e.message.address, e.message.reason])).toEqual([['127.0.93.31', 'UND_ERR_CONNECT_TIMEOUT']]);
    const ejectedAt = ejected.events[0]!.at;
    const dark = endpointStats(agent, origin, '127.0.93.31');
    expect(dark.state).toBe('ejected');
    expect(dark.failures).toBeGreaterThanOrEqual(1);
    // After the ejection no request starts on the dark replica, so nothing more is hedged. An attempt
    // still connecting there when it was ejected, before its hedge delay, was moved instead of hedged.
    const hedgesAfter = hedges().length;
    expect(hedgesAfter + moved.events.filter((e) => e.message.reason === 'RIDETHROUGH_ENDPOINT_EJECTED').length).toBe(dark.attempts);
    expect(Date.now() - ejectedAt).toBeGreaterThan(1_000);
    const more = await steadyStream(() => send(agent, `${origin}/`), { rate: 20, durationMs: 1_000 });
    expect(failures(more)).toEqual([]);
    expect(hedges()).toHaveLength(hedgesAfter);
    expect(endpointStats(agent, origin, '127.0.93.31').attempts).toBe(dark.attempts);
  });
});
