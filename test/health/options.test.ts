/**
 * Validation and defaults of the endpoint-health options (breaker, budget, hedge, balancer,
 * maxConnectionAge, keepAliveTimeout): a wrong type is a TypeError and an out-of-range value a
 * RangeError, each naming the option; per-request hedge overrides are checked on every path; the
 * resolved defaults are usable (a sampling breaker without a threshold, threshold 1). No traffic except
 * the last test, which talks to one pod on 127.0.96.x.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import { defaults, resolveOptions } from '../../src/core/options.js';
import { parseOrigin } from '../../src/core/origin.js';
import { ResilientAgent, type ResilienceOptions, createResilientFetch } from '../../src/index.js';
import { Cluster } from '../support/cluster.js';
import { agentFor, originStats, send } from './support/helpers.js';

/** Nothing listens here; nothing in the validation tests may reach it. */
const dns = { servers: ['127.0.96.53:53'], search: [], hostsFile: false as const };
const agents: ResilientAgent[] = [];
let cluster: Cluster | undefined;

afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  await cluster?.close();
  cluster = undefined;
});

function construct(options: Record<string, unknown>): ResilientAgent {
  const agent = new ResilientAgent({ dns, ...options } as ResilienceOptions);
  agents.push(agent);
  return agent;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const cases: [options: Record<string, unknown>, Class: typeof TypeError | typeof RangeError, name: string][] = [
  [{ breaker: true }, TypeError, 'breaker'],
  [{ breaker: 'on' }, TypeError, 'breaker'],
  [{ breaker: { mode: 'ratio' } }, RangeError, 'breaker.mode'],
  [{ breaker: { threshold: 0 } }, RangeError, 'breaker.threshold'],
  [{ breaker: { threshold: 2.5 } }, RangeError, 'breaker.threshold'],
  [{ breaker: { threshold: '5' } }, TypeError, 'breaker.threshold'],
  [{ breaker: { mode: 'sampling', threshold: 5 } }, RangeError, 'breaker.threshold'],
  [{ breaker: { mode: 'sampling', threshold: 0 } }, RangeError, 'breaker.threshold'],
  [{ breaker: { duration: 999 } }, RangeError, 'breaker.duration'],
  [{ breaker: { minimumRps: -1 } }, RangeError, 'breaker.minimumRps'],
  [{ breaker: { halfOpenAfter: 50 } }, RangeError, 'breaker.halfOpenAfter'],
  [{ breaker: { halfOpenAfter: Number.NaN } }, TypeError, 'breaker.halfOpenAfter'],
  [{ breaker: { treshold: 3 } }, TypeError, 'breaker.treshold'],
  [{ breaker: { halfOpenSampling: 3 } }, TypeError, 'breaker.halfOpenSampling'],
  [{ breaker: { halfOpenSampling: { calls: 0 } } }, RangeError, 'breaker.halfOpenSampling.calls'],
  [{ breaker: { halfOpenSampling: { calls: 2.5 } } }, RangeError, 'breaker.halfOpenSampling.calls'],
  [{ breaker: { halfOpenSampling: { threshold: 1 } } }, RangeError, 'breaker.halfOpenSampling.threshold'],
  [{ breaker: { halfOpenSampling: { call: 3 } } }, TypeError, 'breaker.halfOpenSampling.call'],
  [{ budget: true }, TypeError, 'budget'],
  [{ budget: { ratio: -0.1 } }, RangeError, 'budget.ratio'],
  [{ budget: { ratio: 11 } }, RangeError, 'budget.ratio'],
  [{ budget: { ratio: '0.2' } }, TypeError, 'budget.ratio'],
  [{ budget: { minPerSecond: -1 } }, RangeError, 'budget.minPerSecond'],
  [{ budget: { window: 500 } }, RangeError, 'budget.window'],
  [{ budget: { percent: 20 } }, TypeError, 'budget.percent'],
  [{ hedge: true }, TypeError, 'hedge'],
  [{ hedge: { delay: 0 } }, RangeError, 'hedge.delay'],
  [{ hedge: { delay: '100' } }, TypeError, 'hedge.delay'],
  [{ hedge: { percentile: 40 } }, RangeError, 'hedge.percentile'],
  [{ hedge: { percentile: 100 } }, RangeError, 'hedge.percentile'],
  [{ hedge: { minDelay: -1 } }, RangeError, 'hedge.minDelay'],
  [{ hedge: { maxHedges: 0 } }, RangeError, 'hedge.maxHedges'],
  [{ hedge: { maxHedges: 1.5 } }, RangeError, 'hedge.maxHedges'],
  [{ hedge: { maxHedges: 6 } }, RangeError, 'hedge.maxHedges'],
  [{ balancer: 'random' }, RangeError, 'balancer'],
  [{ balancer: 2 }, TypeError, 'balancer'],
  [{ maxConnectionAge: 999 }, RangeError, 'maxConnectionAge'],
  [{ maxConnectionAge: -1 }, RangeError, 'maxConnectionAge'],
  [{ maxConnectionAge: '60s' }, TypeError, 'maxConnectionAge'],
  [{ keepAliveTimeout: 0 }, RangeError, 'keepAliveTimeout'],
  [{ ejection: { maxPercent: 101 } }, RangeError, 'ejection.maxPercent'],
  [{ ejection: { consecutiveFailures: 0 } }, RangeError, 'ejection.consecutiveFailures'],
  [{ ejection: { baseTime: 5_000, maxTime: 1_000 } }, RangeError, 'ejection.maxTime'],
];

describe('option validation (endpoint health)', () => {
  for (const [options, Class, name] of cases) {
    it(`${JSON.stringify(options)} → ${Class.name} naming "${name}"`, () => {
      const err = thrown(() => construct(options));
      expect(err.constructor).toBe(Class);
      expect(err.message).toContain(`"${name}"`);
    });
  }

  it('accepts the edges of every range and false to turn a feature off', () => {
    for (const options of [
      { breaker: false, budget: false, hedge: false },
      { breaker: { threshold: 1, halfOpenAfter: 100 } },
      { breaker: { threshold: 1000, halfOpenAfter: 600_000 } },
      { breaker: { halfOpenSampling: { calls: 1, threshold: 0 } } },
      { breaker: { halfOpenSampling: { calls: 1000, threshold: 0.99 } } },
      { breaker: { mode: 'sampling', threshold: 0.01, duration: 1_000, minimumRps: 0 } },
      { breaker: { mode: 'sampling', threshold: 1, duration: 600_000, minimumRps: 100_000 } },
      { budget: { ratio: 0, minPerSecond: 0, window: 1_000 } },
      { budget: { ratio: 10, minPerSecond: 10_000, window: 600_000 } },
      { hedge: { delay: 1, percentile: 50, minDelay: 0, maxHedges: 1 } },
      { hedge: { delay: 600_000, percentile: 99.9, minDelay: 600_000, maxHedges: 5 } },
      { balancer: 'round-robin' },
      { maxConnectionAge: 0 },
      { maxConnectionAge: 1_000 },
      { maxConnectionAge: 86_400_000 },
    ]) {
      expect(() => construct(options)).not.toThrow();
    }
  });

  it('per-request hedge overrides are validated on every path', async () => {
    const agent = construct({});
    let err = thrown(() => agent.with({ hedge: { delay: 0 } }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toContain('"ridethrough.hedge.delay"');

    err = await rejected(request('http://never.test:1/', { dispatcher: agent, ridethrough: { hedge: { maxHedges: 9 } } } as Parameters<typeof request>[1]));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toContain('"ridethrough.hedge.maxHedges"');

    const fetch = createResilientFetch({ agent });
    err = await rejected(fetch('http://never.test:1/', { ridethrough: { hedge: 'yes' as never } }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('"ridethrough.hedge"');
  });
});

describe('resolved defaults', () => {
  it('are the documented ones', () => {
    const o = resolveOptions({});
    expect(o.breaker).toEqual({
      mode: 'consecutive',
      threshold: 5,
      duration: 10_000,
      minimumRps: 5,
      halfOpenAfter: 5_000,
      halfOpenSampling: { calls: 1, threshold: 0 },
    });
    expect(o.budget).toEqual({ ratio: 0.2, minPerSecond: 10, window: 10_000 });
    expect(o.hedge).toBe(false);
    expect(o.balancer).toBe('p2c');
    expect(o.maxConnectionAge).toBe(60_000);
    expect(o.keepAliveTimeout).toBe(4_000);
    expect(o.ejection).toEqual({ baseTime: 10_000, maxTime: 120_000, maxPercent: 50, consecutiveFailures: 5 });
    expect(defaults.breaker).toEqual(o.breaker);
    expect(o.backoff).toEqual({ jitter: 'full', initialDelay: 25, maxDelay: 1_000 });
    expect(o.silentEndpoint).toEqual({ after: 200, latencyMultiple: 4 });
    expect([...o.statusCodes]).toEqual([502, 503, 504]);
    expect(o.dns).toMatchObject({ maxTtl: 5_000, minTtl: 500, staleTtl: 60_000, timeout: 500, tries: 2, family: 0, maxHosts: 1_000 });
  });

  it('a sampling breaker without a threshold gets the ratio 0.5, not the consecutive count 5', () => {
    expect(resolveOptions({ breaker: { mode: 'sampling' } }).breaker).toMatchObject({ mode: 'sampling', threshold: 0.5 });
    expect(resolveOptions({ breaker: { mode: 'sampling', threshold: 0.2 } }).breaker).toMatchObject({ threshold: 0.2 });
    expect(resolveOptions({ breaker: { threshold: 3 } }).breaker).toMatchObject({ mode: 'consecutive', threshold: 3 });
    // The per-origin state (where the cockatiel breaker is built) can be created for every valid setting.
    for (const breaker of [{ mode: 'sampling' as const }, { mode: 'sampling' as const, threshold: 1 }, { mode: 'sampling' as const, minimumRps: 0 }]) {
      const ctx = new ResilienceContext({ dns, breaker });
      expect(() => ctx.originFor(parseOrigin('http://x.test'))).not.toThrow();
      ctx.close();
    }
  });

  it('stats reports disabled features as such', async () => {
    const c = (cluster = await Cluster.start('127.0.96.54'));
    await c.startPod('one', '127.0.96.1', 18_096);
    c.publish('off.options.test', ['127.0.96.1'], 30);
    const origin = 'http://off.options.test:18096';
    const off = agentFor(c, { breaker: false, budget: false });
    expect((await send(off, `${origin}/`)).status).toBe(200);
    expect(originStats(off, origin)).toMatchObject({ breaker: 'disabled', breakerRetryAt: undefined, budgetAvailable: undefined, budgetRefused: 0 });
    const on = agentFor(c, {});
    expect((await send(on, `${origin}/`)).status).toBe(200);
    // Default budget: 10/s over 10 s = 100, plus 20 % of the one request sent.
    expect(originStats(on, origin)).toMatchObject({ breaker: 'closed', breakerRetryAt: undefined, budgetAvailable: 100, budgetRefused: 0 });
    expect(originStats(on, origin).endpoints).toMatchObject([{ address: '127.0.96.1', state: 'healthy', attempts: 1, failures: 0, inFlight: 0 }]);
    expect(originStats(on, origin).latencyP50Ms).toBeGreaterThan(0);
  });
});
