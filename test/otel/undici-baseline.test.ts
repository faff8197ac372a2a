/**
 * What the real `@opentelemetry/instrumentation-undici` records for requests through ridethrough when
 * `ridethrough/otel` is not used: the findings docs/observability.md describes ("without ridethrough/otel").
 * Real parts only: a UDP DNS server and HTTP pods on 127.0.120.x, port 18120.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { CircuitOpenError, DnsResolutionError, resilience } from '../../src/index.js';
import { rejection, useScope } from '../support/scope.js';
import { parentId, setupOtel, total } from './support.js';

const PORT = 18_120;
const { dns, agent: newAgent, pod, defer, moveOnFirstAttempt } = useScope({ dnsAddress: '127.0.120.53', port: PORT, dns: { family: 4, hostsFile: false } });
const otel = setupOtel();
afterAll(() => otel.shutdown());

const undiciScope = '@opentelemetry/instrumentation-undici';

describe('instrumentation-undici through ridethrough, without ridethrough/otel', () => {
  it('agent: every attempt is a sibling root CLIENT span; the refused one is an error; no resend_count; one duration sample each', async () => {
    otel.reset();
    const host = 'moved.otel.test';
    moveOnFirstAttempt(host, '127.0.120.1', '127.0.120.2');
    await pod('b', '127.0.120.2');
    const agent = newAgent({ dns: { minTtl: 0 } });
    const before = total((await otel.collect()).get(`${undiciScope}/http.client.request.duration`));
    const res = await request(`http://${host}:${PORT}/x`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const spans = otel.spans();
    expect(spans).toHaveLength(2);
    for (const s of spans) {
      expect(s.kind).toBe(2 /* CLIENT */);
      expect(parentId(s)).toBeUndefined();
      expect(s.attributes['http.request.resend_count']).toBeUndefined();
      // The agent's pools keep the host name as origin.
      expect(s.attributes['server.address']).toBe(host);
    }
    expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans[0]!.attributes['error.type']).toBe('ECONNREFUSED');
    expect(spans[1]!.attributes['http.response.status_code']).toBe(200);
    expect(spans[0]!.spanContext().traceId).not.toBe(spans[1]!.spanContext().traceId);
    const after = (await otel.collect()).get(`${undiciScope}/http.client.request.duration`);
    expect(total(after) - before).toBe(2);
    expect(total(after, { 'error.type': 'ECONNREFUSED', 'server.address': host })).toBe(1);
  });

  it('interceptor: the origin is rewritten to the pod IP, so server.address and url.full are pod IPs', async () => {
    otel.reset();
    const host = 'icpt.otel.test';
    dns.setRecords(host, { a: ['127.0.120.3'] });
    await pod('c', '127.0.120.3');
    const base = new Agent();
    defer(() => base.close());
    const dispatcher = base.compose(resilience({ dns: { servers: [dns.server], search: [], family: 4, hostsFile: false } }));
    const res = await request(`http://${host}:${PORT}/items?q=1`, { dispatcher });
    await res.body.text();
    const [span] = otel.spans();
    expect(span!.attributes['server.address']).toBe('127.0.120.3');
    expect(span!.attributes['url.full']).toBe(`http://127.0.120.3:${PORT}/items?q=1`);
    expect(span!.attributes['network.peer.address']).toBe('127.0.120.3');
  });

  it('hedge: the loser is aborted with an AbortError, so its span ends without error', async () => {
    otel.reset();
    const host = 'hedge.otel.test';
    dns.setRecords(host, { a: ['127.0.120.4', '127.0.120.5'] });
    let first = true;
    const slowFirst = (_req: unknown, res: import('node:http').ServerResponse): void => {
      const delay = first ? 2_000 : 0;
      first = false;
      const t = setTimeout(() => res.end('ok'), delay);
      res.on('close', () => clearTimeout(t));
    };
    await pod('d', '127.0.120.4', (req, res) => slowFirst(req, res));
    await pod('e', '127.0.120.5', (req, res) => slowFirst(req, res));
    const agent = newAgent({ hedge: { delay: 50 } });
    const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
    await res.body.text();
    await new Promise((r) => setTimeout(r, 50));
    const spans = otel.spans();
    expect(spans).toHaveLength(2);
    const loser = spans.find((s) => s.attributes['http.response.status_code'] === undefined)!;
    expect(loser.status.code).toBe(SpanStatusCode.UNSET);
    expect(loser.attributes['error.type']).toBeUndefined();
  });

  it('breaker fast-fail and DNS failure: no span at all', async () => {
    otel.reset();
    const host = 'breaker.otel.test';
    dns.setRecords(host, { a: ['127.0.120.6'] });
    const agent = newAgent({ maxAttempts: 1, breaker: { threshold: 1, halfOpenAfter: 60_000 } });
    await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    otel.reset();
    expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(CircuitOpenError);
    expect(await rejection(request(`http://nothing.otel.test:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(DnsResolutionError);
    expect(otel.spans()).toHaveLength(0);
  });
});
