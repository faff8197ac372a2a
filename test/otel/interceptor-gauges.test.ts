/**
 * ridethrough/otel's observable gauges fed by the `resilience()` interceptor's `stats`
 * (`instrumentRidethrough({ agents: [interceptor] })`), with the real OpenTelemetry SDK and an undici
 * Agent composed with the interceptor: the gauges carry the interceptor's origin (the host name, never
 * the pod IP) and its endpoints' health after a refused pod.
 * Real parts only: a UDP DNS server and HTTP pods on 127.0.163.11–19, port 18201.
 */
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { resilience } from '../../src/index.js';
import { instrumentRidethrough } from '../../src/otel/index.js';
import { useScope } from '../support/scope.js';
import { type Otel, setupOtel, total } from './support.js';

const PORT = 18_201;
const scope = useScope({ dnsAddress: '127.0.163.54', port: PORT, dns: { family: 4, hostsFile: false } });
const { pod, dnsOptions, defer, moveOnFirstAttempt } = scope;
const otel: Otel = setupOtel();
afterAll(() => otel.shutdown());

const rt = (name: string): string => `ridethrough/${name}`;
/** Nothing listens there: a connect is refused (a pod that is gone). */
const GONE = '127.0.163.11';

describe('gauges from the interceptor', () => {
  it("breaker state, budget, endpoints and waiting requests carry the interceptor's origin, the refused pod counted as ejected", async () => {
    const host = 'gauges.otel.test';
    moveOnFirstAttempt(host, GONE, '127.0.163.12');
    await pod('a', '127.0.163.12');
    const interceptor = resilience({ dns: dnsOptions() });
    const base = new Agent({ connect: { timeout: 1_000 } });
    defer(() => base.close());
    const dispatcher = base.compose(interceptor);
    const handle = instrumentRidethrough({ tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider, agents: [interceptor] });
    defer(() => handle.disable());

    const res = await request(`http://${host}:${PORT}/`, { dispatcher });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('a');

    const metrics = await otel.collect();
    const o = { 'server.address': host, 'server.port': PORT, 'url.scheme': 'http' };
    expect(total(metrics.get(rt('ridethrough.endpoints')), { ...o, 'ridethrough.endpoint.state': 'healthy' })).toBe(1);
    expect(total(metrics.get(rt('ridethrough.endpoints')), { ...o, 'ridethrough.endpoint.state': 'ejected' })).toBe(1);
    expect(total(metrics.get(rt('ridethrough.breaker.state')), { ...o, 'ridethrough.breaker.state': 'closed' })).toBe(1);
    expect(total(metrics.get(rt('ridethrough.breaker.state')), { ...o, 'ridethrough.breaker.state': 'open' })).toBe(0);
    expect(total(metrics.get(rt('ridethrough.retry_budget.available')), o)).toBeGreaterThan(0);
    expect(total(metrics.get(rt('ridethrough.retry_budget.refusals')), o)).toBe(0);
    expect(metrics.get(rt('ridethrough.requests.waiting'))?.points.filter((p) => p.attributes['server.address'] === host)).toEqual([
      { attributes: o, value: 0 },
    ]);
    // One origin, the host name's: the pod IPs the attempts went to are no series of their own.
    for (const name of ['ridethrough.endpoints', 'ridethrough.breaker.state', 'ridethrough.retry_budget.available', 'ridethrough.requests.waiting']) {
      const servers = new Set(metrics.get(rt(name))!.points.map((p) => p.attributes['server.address']));
      expect([...servers], name).toEqual([host]);
    }
  });

  it('a function without `stats` is still refused, naming the interceptor', () => {
    const plain = (): void => {};
    expect(() => instrumentRidethrough({ agents: [plain as never] })).toThrow(/`stats` getter \(ResilientAgent, resilience\(\) interceptor/);
  });
});
