/**
 * The `resilience()` interceptor's `stats`: the per-origin state of an undici `Agent` composed with it,
 * keyed by the host name's origin, with its endpoints and their health (an ejected pod after a refused
 * connect), one state for every `Agent` the interceptor is composed into.
 * Real pods and a real DNS server on UDP loopback, addresses 127.0.163.1–9, port 18200.
 */
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { resilience, type ResilienceInterceptor } from '../../src/index.js';
import { useScope } from '../support/scope.js';

const PORT = 18_200;
const scope = useScope({ dnsAddress: '127.0.163.53', port: PORT, dns: { family: 4, hostsFile: false } });
const { dns, pod, dnsOptions, defer, moveOnFirstAttempt } = scope;

/** Nothing listens there: a connect is refused (a pod that is gone). */
const GONE = '127.0.163.1';

/** An undici Agent composed with `interceptor`, closed after the test. */
function composed(interceptor: ResilienceInterceptor): ReturnType<Agent['compose']> {
  const base = new Agent({ connect: { timeout: 1_000 } });
  defer(() => base.close());
  return base.compose(interceptor);
}

/** A GET's body through `dispatcher`. */
async function get(dispatcher: ReturnType<Agent['compose']>, url: string): Promise<string> {
  const res = await request(url, { dispatcher });
  expect(res.statusCode).toBe(200);
  return res.body.text();
}

describe("the interceptor's stats", () => {
  it('show nothing before a request, then the origin (by host name) and its healthy endpoint', async () => {
    const host = 'one.stats.test';
    dns.setRecords(host, { a: ['127.0.163.2'] });
    await pod('a', '127.0.163.2');
    const interceptor = resilience({ dns: dnsOptions() });
    const dispatcher = composed(interceptor);
    expect(interceptor.stats).toEqual({});

    expect(await get(dispatcher, `http://${host}:${PORT}/`)).toBe('a');
    const origin = `http://${host}:${PORT}`;
    expect(Object.keys(interceptor.stats)).toEqual([origin]);
    const s = interceptor.stats[origin]!;
    expect(s).toMatchObject({ origin, breaker: 'closed', budgetRefused: 0, waiting: 0, endpointsFrom: 'dns', discovery: undefined });
    expect(s.budgetAvailable).toBeGreaterThan(0);
    expect(s.latencyP50Ms).toBeGreaterThanOrEqual(0);
    expect(s.endpoints).toHaveLength(1);
    expect(s.endpoints[0]).toMatchObject({ address: '127.0.163.2', state: 'healthy', attempts: 1, failures: 0, inFlight: 0 });
  });

  it('after a refused connect, the gone pod is ejected for ECONNREFUSED and the request rode through to the other', async () => {
    const host = 'moved.stats.test';
    moveOnFirstAttempt(host, GONE, '127.0.163.3');
    await pod('b', '127.0.163.3');
    const interceptor = resilience({ dns: dnsOptions() });
    expect(await get(composed(interceptor), `http://${host}:${PORT}/`)).toBe('b');

    const s = interceptor.stats[`http://${host}:${PORT}`]!;
    const byAddress = new Map(s.endpoints.map((e) => [e.address, e]));
    expect([...byAddress.keys()].sort()).toEqual([GONE, '127.0.163.3']);
    expect(byAddress.get(GONE)).toMatchObject({ state: 'ejected', ejectedFor: 'ECONNREFUSED', attempts: 1, failures: 1, ejections: 1 });
    expect(byAddress.get(GONE)!.ejectedUntil).toBeGreaterThan(Date.now());
    expect(byAddress.get('127.0.163.3')).toMatchObject({ state: 'healthy', attempts: 1, failures: 0, ejectedFor: undefined });
  });

  it('are one state for every Agent the interceptor is composed into, a fresh snapshot at each read, and read-only', async () => {
    const host = 'shared.stats.test';
    dns.setRecords(host, { a: ['127.0.163.4'] });
    await pod('c', '127.0.163.4');
    const interceptor = resilience({ dns: dnsOptions() });
    const origin = `http://${host}:${PORT}`;
    await get(composed(interceptor), `http://${host}:${PORT}/`);
    const first = interceptor.stats;
    await get(composed(interceptor), `http://${host}:${PORT}/`);
    expect(interceptor.stats[origin]!.endpoints[0]!.attempts).toBe(2);
    // The snapshot read before is not updated behind the reader's back.
    expect(first[origin]!.endpoints[0]!.attempts).toBe(1);
    expect(() => {
      (interceptor as { stats: unknown }).stats = {};
    }).toThrow(TypeError);
    // Another interceptor keeps its own state.
    expect(resilience({ dns: dnsOptions() }).stats).toEqual({});
  });
});
