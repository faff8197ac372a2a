/**
 * ridethrough/otel and `resilientConnect`, with the real OpenTelemetry SDK: one CLIENT span
 * `connect <host>` per call, with the host name (pod IPs only when asked for), the attempts, a
 * `ridethrough.retry` event per retried attempt and a `ridethrough.wait` event per wait in the waiting
 * room, and the give-up code as `error.type` when it fails; the host's ejections and stale DNS answers
 * while it runs are events on it, as on a request's span. No span while not instrumented.
 * Real parts only: a UDP DNS server, HTTP pods (taking plain TCP connections) and addresses nothing
 * listens on (refused at once), on 127.0.157.x, port 18161.
 */
import type { Socket } from 'node:net';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { AttemptsExhaustedError, channelNames, DnsResolutionError, resilientConnect, type ResilientAgent, type WaitEvent } from '../../src/index.js';
import { instrumentRidethrough, type RidethroughInstrumentationOptions } from '../../src/otel/index.js';
import { rejection, useScope } from '../support/scope.js';
import { type Otel, parentId, setupOtel, total } from './support.js';

const PORT = 18_161;
const base = '127.0.157';
const scope = useScope({ dnsAddress: `${base}.53`, port: PORT, dns: { family: 4, hostsFile: false } });
const { dns, agent: newAgent, pod, watch, watchRetries, defer } = scope;
const otel: Otel = setupOtel();
afterAll(() => otel.shutdown());

/** ridethrough/otel on the test's SDK, disabled after the test. */
function instrument(extra: RidethroughInstrumentationOptions = {}): void {
  const handle = instrumentRidethrough({ tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider, ...extra });
  defer(() => handle.disable());
}

/** Connects through the agent's context; the socket is destroyed after the test. */
async function connect(agent: ResilientAgent, host: string, extra: { maxAttempts?: number; signal?: AbortSignal } = {}): Promise<Socket> {
  const socket = await resilientConnect({ host, port: PORT, deadline: 10_000, ...extra }, agent.context);
  defer(() => socket.destroy());
  return socket;
}

/** The connect spans (instrumentation scope `ridethrough`). */
const connectSpans = (): ReadableSpan[] => otel.spans().filter((s) => s.instrumentationScope.name === 'ridethrough');

/** The span's events of one name. */
const events = (span: ReadableSpan, name: string) => span.events.filter((e) => e.name === name);

/** Every attribute value of the span and of its events. */
const values = (span: ReadableSpan): unknown[] => [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes ?? {}))];

describe('a connect that rode through a refused endpoint', () => {
  it('one CLIENT span "connect <host>" under the caller\'s span: 2 attempts, the ejection and one retry event, the host name and no pod IP', async () => {
    const host = 'ride.connect.otel.test';
    // The first endpoint refuses (nothing listens there); round-robin starts with it.
    dns.setRecords(host, { a: [`${base}.1`, `${base}.2`] });
    await pod('b', `${base}.2`);
    const agent = newAgent({ balancer: 'round-robin' });
    const retries = watchRetries();
    instrument();
    const before = await otel.collect();
    otel.reset();

    const parent = otel.tracerProvider.getTracer('test').startSpan('caller');
    const socket = await context.with(trace.setSpan(context.active(), parent), () => connect(agent, host));
    parent.end();
    expect(socket.remoteAddress).toBe(`${base}.2`);
    expect(retries.map((r) => [r.method, r.address, r.reason])).toEqual([['CONNECT', `${base}.1`, 'ECONNREFUSED']]);

    const [span, ...others] = connectSpans();
    expect(others).toHaveLength(0);
    expect(span!.name).toBe(`connect ${host}`);
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(parentId(span!)).toBe(parent.spanContext().spanId);
    expect(span!.attributes).toEqual({
      'server.address': host,
      'server.port': PORT,
      'network.transport': 'tcp',
      'ridethrough.attempts': 2,
    });
    // The refused endpoint is ejected (a host-wide event, on the span of the connect that runs), then the connect moves on.
    expect(span!.events.map((e) => e.name)).toEqual(['ridethrough.endpoint.ejected', 'ridethrough.retry']);
    expect(span!.events[0]!.attributes).toMatchObject({ 'ridethrough.ejection.reason': 'ECONNREFUSED' });
    expect(span!.events[1]!.attributes).toEqual({ 'ridethrough.attempt': 1, 'ridethrough.retry.reason': 'ECONNREFUSED', 'ridethrough.delay_ms': 0 });
    // Pod IPs are opt-in.
    expect(values(span!).filter((v) => String(v).startsWith(`${base}.`))).toEqual([]);

    // The metrics it had already: one retry of a CONNECT to the host, no give-up.
    const after = await otel.collect();
    const delta = (name: string, match: Record<string, string | number>): number =>
      total(after.get(`ridethrough/${name}`), match) - total(before.get(`ridethrough/${name}`), match);
    expect(delta('ridethrough.retries', { 'server.address': host, 'http.request.method': 'CONNECT', 'ridethrough.retry.reason': 'ECONNREFUSED' })).toBe(1);
    expect(delta('ridethrough.give_ups', { 'server.address': host })).toBe(0);
  });

  it('with podIpAttributes: the connected peer on the span, the refused endpoint on its retry event', async () => {
    const host = 'podip.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.3`, `${base}.4`] });
    await pod('d', `${base}.4`);
    const agent = newAgent({ balancer: 'round-robin' });
    instrument({ podIpAttributes: true });
    otel.reset();
    await connect(agent, host);
    const [span] = connectSpans();
    expect(span!.attributes).toMatchObject({
      'server.address': host,
      'ridethrough.attempts': 2,
      'ridethrough.endpoint': `${base}.4`,
      'network.peer.address': `${base}.4`,
      'network.peer.port': PORT,
    });
    expect(events(span!, 'ridethrough.retry')[0]!.attributes).toMatchObject({ 'ridethrough.endpoint': `${base}.3` });
  });
});

describe('a connect that failed', () => {
  it('every attempt refused: an error span with the give-up code, a retry event per retried attempt, a wait event per wait', async () => {
    const host = 'dead.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.5`] });
    const agent = newAgent();
    const waits = watch<WaitEvent>(channelNames.wait);
    instrument();
    otel.reset();
    const err = await rejection(connect(agent, host, { maxAttempts: 3 }));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);

    const [span, ...others] = connectSpans();
    expect(others).toHaveLength(0);
    expect(span!.name).toBe(`connect ${host}`);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({
      'server.address': host,
      'server.port': PORT,
      'network.transport': 'tcp',
      'ridethrough.attempts': 3,
      'error.type': 'RIDETHROUGH_ATTEMPTS_EXHAUSTED',
      'ridethrough.give_up.code': 'RIDETHROUGH_ATTEMPTS_EXHAUSTED',
    });
    // Attempts 1 and 2 were retried, the third ended it.
    const retried = events(span!, 'ridethrough.retry');
    expect(retried.map((e) => [e.attributes!['ridethrough.attempt'], e.attributes!['ridethrough.retry.reason']])).toEqual([
      [1, 'ECONNREFUSED'],
      [2, 'ECONNREFUSED'],
    ]);
    // Nowhere new to go: each retry waited in the waiting room for its backoff delay (when the jitter drew one),
    // published on ridethrough:wait as CONNECT, and as a span event.
    const waited = retried.filter((e) => (e.attributes!['ridethrough.delay_ms'] as number) > 0);
    expect(events(span!, 'ridethrough.wait').map((e) => e.attributes!['ridethrough.delay_ms'])).toEqual(
      waited.map((e) => e.attributes!['ridethrough.delay_ms']),
    );
    expect(waits.map((w) => [w.method, w.maxWaitMs])).toEqual(waited.map((e) => ['CONNECT', e.attributes!['ridethrough.delay_ms']]));
    expect(events(span!, 'exception')).toHaveLength(1);
  });

  it('a name DNS does not know: an error span with RIDETHROUGH_DNS and one attempt', async () => {
    const agent = newAgent();
    instrument();
    otel.reset();
    const err = await rejection(connect(agent, 'missing.connect.otel.test'));
    expect(err).toBeInstanceOf(DnsResolutionError);
    const [span] = connectSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({ 'error.type': 'RIDETHROUGH_DNS', 'ridethrough.attempts': 1 });
  });

  it("the caller's abort ends the span without error", async () => {
    const host = 'abort.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.6`] });
    const agent = newAgent();
    const controller = new AbortController();
    // Aborted as it starts to wait in the waiting room, after a refused attempt (or a few, while the jitter draws no delay).
    const waits = watch<WaitEvent>(channelNames.wait, () => controller.abort());
    instrument();
    otel.reset();
    const err = await rejection(connect(agent, host, { signal: controller.signal }));
    expect(err).toBe(controller.signal.reason);
    expect(waits).toHaveLength(1);
    const [span] = connectSpans();
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes['error.type']).toBeUndefined();
    expect(span!.attributes['ridethrough.attempts']).toBe(waits[0]!.attempts);
    expect(events(span!, 'ridethrough.wait')).toHaveLength(1);
  });
});

describe("the host's events on a connect span", () => {
  it('a stale DNS answer served while DNS fails: a ridethrough.dns.stale event on the span', async () => {
    const host = 'stale.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.8`], ttl: 0 });
    await pod('f', `${base}.8`);
    const agent = newAgent({ dns: { minTtl: 0 } });
    instrument();
    await connect(agent, host);
    dns.setMode('servfail');
    defer(() => dns.setMode('normal'));
    otel.reset();
    await connect(agent, host);
    const [span, ...others] = connectSpans();
    expect(others).toHaveLength(0);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(events(span!, 'ridethrough.dns.stale').map((e) => e.attributes!['error.type'])).toEqual(['ESERVFAIL']);
  });

  it('an ended connect gets no more events: a later connect to the host that is refused adds its ejection to its own span only', async () => {
    const host = 'ended.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.9`] });
    const up = await pod('g', `${base}.9`);
    const agent = newAgent();
    instrument();
    otel.reset();
    await connect(agent, host);
    await up.stop();
    await rejection(connect(agent, host, { maxAttempts: 1 }));
    const [first, second] = connectSpans();
    expect(first!.events).toEqual([]);
    expect(events(second!, 'ridethrough.endpoint.ejected')).toHaveLength(1);
  });
});

describe('not instrumented', () => {
  it('no span, before instrumentRidethrough() and after disable()', async () => {
    const host = 'off.connect.otel.test';
    dns.setRecords(host, { a: [`${base}.7`] });
    await pod('e', `${base}.7`);
    const agent = newAgent();
    otel.reset();
    await connect(agent, host);
    expect(connectSpans()).toHaveLength(0);

    const handle = instrumentRidethrough({ tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider });
    await connect(agent, host);
    expect(connectSpans()).toHaveLength(1);
    handle.disable();
    await connect(agent, host);
    expect(connectSpans()).toHaveLength(1);
  });
});
