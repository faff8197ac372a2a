/**
 * The per-origin retry budget: retries that may load the server (after a retryable status, a reset or
 * a timeout) are paid from `ratio` × requests + `minPerSecond` × window; connect-failure retries are
 * free. Under a total outage the server therefore sees at most (1 + ratio) × requests + the floor.
 * Real parts only: a UDP DNS server, HTTP pods and a raw TCP fault server on 127.0.92.x.
 */
import { describe, expect, it } from 'vitest';
import { AttemptsExhaustedError, BudgetExhaustedError } from '../../src/errors/errors.js';
import { type RetryEvent, channelNames } from '../../src/events/channels.js';
import { startFaultServer } from '../support/fault-server.js';
import { failures, recordChannel, steadyStream } from '../support/cluster.js';
import { agentFor, endpointStats, originStats, send, useCluster } from './support/helpers.js';

const PORT = 18_092;

const start = useCluster('127.0.92.53');

describe('retry budget', () => {
  it('a server answering 503 to everything at ~200 requests/s receives at most (1 + ratio) × sent + floor', async () => {
    const c = await start();
    const pod = await c.startPod('down', '127.0.92.1', PORT, (req, res) => {
      req.resume();
      res.statusCode = 503;
      res.end('down');
    });
    c.publish('down.budget.test', ['127.0.92.1'], 30);
    const origin = `http://down.budget.test:${PORT}`;
    const ratio = 0.2;
    // Floor: 2 retries/s over a 10 s window (longer than the test, so nothing leaves it) = 20.
    const floor = 2 * 10;
    const agent = agentFor(c, {
      budget: { ratio, minPerSecond: 2, window: 10_000 },
      breaker: false,
      maxAttempts: 10,
      deadline: 2_000,
      backoff: { initialDelay: 2, maxDelay: 10 },
    });

    const results = await steadyStream(() => send(agent, `${origin}/`), { rate: 200, durationMs: 3_000 });
    const sent = results.length;
    expect(sent).toBeGreaterThanOrEqual(500);
    // With the budget spent, status retries hand the 503 to the caller instead of failing.
    expect(results.filter((r) => r.status !== 503).map((r) => r.error ?? r.status)).toEqual([]);
    // Without the budget each request would have been tried up to 10 times.
    expect(pod.count()).toBeLessThanOrEqual((1 + ratio) * sent + floor);
    // ...and the budget was really used, not just refused.
    expect(pod.count()).toBeGreaterThanOrEqual(sent + ratio * sent * 0.8);
    const stats = originStats(agent, origin);
    expect(stats.budgetRefused).toBeGreaterThan(sent * 0.5);
    expect(stats.budgetAvailable).toBeLessThanOrEqual(1);
    expect(endpointStats(agent, origin, '127.0.92.1')).toMatchObject({ attempts: pod.count(), failures: pod.count(), inFlight: 0 });
  });

  it('error retries (resets after the request was sent) fail with BudgetExhaustedError once it is spent', async () => {
    const c = await start();
    const server = await startFaultServer('127.0.92.2', PORT, { mode: 'reset' });
    c.defer(() => server.stop());
    c.publish('reset.budget.test', ['127.0.92.2'], 30);
    const origin = `http://reset.budget.test:${PORT}`;
    const ratio = 0.5;
    const floor = 1 * 10;
    const agent = agentFor(c, {
      budget: { ratio, minPerSecond: 1, window: 10_000 },
      breaker: false,
      maxAttempts: 3,
      backoff: { initialDelay: 2, maxDelay: 10 },
    });

    const results = await steadyStream(() => send(agent, `${origin}/`), { rate: 50, durationMs: 2_000 });
    const sent = results.length;
    expect(results.every((r) => r.status === undefined)).toBe(true);
    const budgetErrors = results.filter((r) => r.cause instanceof BudgetExhaustedError);
    const exhausted = results.filter((r) => r.cause instanceof AttemptsExhaustedError);
    // Every request failed one way or the other: out of attempts while the budget lasted, then out of budget.
    expect(budgetErrors.length + exhausted.length).toBe(sent);
    expect(budgetErrors.length).toBeGreaterThan(sent / 3);
    const e = budgetErrors[0]!.cause as BudgetExhaustedError;
    expect(e.code).toBe('RIDETHROUGH_BUDGET_EXHAUSTED');
    expect(e.attempts.length).toBeGreaterThanOrEqual(1);
    expect(e.attempts.every((x) => x.maybeSent && x.address === '127.0.92.2')).toBe(true);
    expect(server.count()).toBeLessThanOrEqual((1 + ratio) * sent + floor);
    expect(server.count()).toBeGreaterThan(sent);
    const stats = originStats(agent, origin);
    expect(stats.budgetRefused).toBe(budgetErrors.length);
    expect(stats.endpoints[0]!.inFlight).toBe(0);
  });

  it('connect-failure retries are free: with a zero budget they still ride out a dead replica, while a 503 is not retried', async () => {
    const c = await start();
    const live = await c.startPod('live', '127.0.92.3', PORT);
    // 127.0.92.4 has no listener: connections are refused.
    c.publish('half.budget.test', ['127.0.92.3', '127.0.92.4'], 30);
    const sick = await c.startPod('sick', '127.0.92.5', PORT, (req, res) => {
      req.resume();
      res.statusCode = 503;
      res.end();
    });
    c.publish('sick.budget.test', ['127.0.92.5'], 30);
    const agent = agentFor(c, { budget: { ratio: 0, minPerSecond: 0, window: 1_000 }, breaker: false, ejection: { baseTime: 100, maxTime: 100 } });
    const retries = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => retries.stop());

    const half = `http://half.budget.test:${PORT}`;
    const results = await steadyStream(() => send(agent, `${half}/`), { rate: 30, durationMs: 2_000 });
    expect(failures(results)).toEqual([]);
    expect(live.count()).toBe(results.length);
    const refusedRetries = retries.events.filter((e) => e.message.origin === half && e.message.reason === 'ECONNREFUSED');
    // The dead replica came back into rotation every ~100 ms and each visit cost one free retry.
    expect(refusedRetries.length).toBeGreaterThanOrEqual(3);
    expect(originStats(agent, half).budgetRefused).toBe(0);
    expect(originStats(agent, half).budgetAvailable).toBe(0);

    const sickOrigin = `http://sick.budget.test:${PORT}`;
    for (let n = 0; n < 5; n++) expect((await send(agent, `${sickOrigin}/`)).status).toBe(503);
    expect(sick.count()).toBe(5);
    expect(originStats(agent, sickOrigin).budgetRefused).toBe(5);
    expect(retries.events.filter((e) => e.message.origin === sickOrigin)).toEqual([]);
  });

  it('budget: false retries every retryable status up to maxAttempts', async () => {
    const c = await start();
    const pod = await c.startPod('down', '127.0.92.6', PORT, (req, res) => {
      req.resume();
      res.statusCode = 503;
      res.end();
    });
    c.publish('nobudget.budget.test', ['127.0.92.6'], 30);
    const origin = `http://nobudget.budget.test:${PORT}`;
    const agent = agentFor(c, { budget: false, breaker: false, maxAttempts: 4, backoff: { initialDelay: 1, maxDelay: 2 } });
    for (let n = 0; n < 50; n++) expect((await send(agent, `${origin}/`)).status).toBe(503);
    expect(pod.count()).toBe(200);
    const stats = originStats(agent, origin);
    expect(stats.budgetAvailable).toBeUndefined();
    expect(stats.budgetRefused).toBe(0);
  });
});
