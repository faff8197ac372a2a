/**
 * The waiting room: a request with no usable endpoint parks until one appears, and the host is
 * re-queried on a short cadence meanwhile. Real pods, a real DNS server on UDP loopback.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { type AttemptEvent, DeadlineExceededError, type ReleaseEvent, type ResolveEvent, type WaitEvent, channelNames } from '../../src/index.js';
import { errorCode } from '../../src/policy/failure.js';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_097;
const { dns, agent: newAgent, pod, watch } = useScope({ dnsAddress: '127.0.45.53', port: PORT, dns: { family: 4, hostsFile: false } });

/** Every ridethrough event of the test, in publish order. */
function eventLog(): { channel: string; message: unknown }[] {
  const log: { channel: string; message: unknown }[] = [];
  for (const name of [channelNames.resolve, channelNames.release, channelNames.attempt, channelNames.wait, channelNames.retry]) {
    watch<unknown>(name, (message) => log.push({ channel: name, message }));
  }
  return log;
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe("a request with nowhere to go parks in its host's waiting room", () => {
  for (const method of ['GET', 'POST'] as const) {
    it(`${method}: is sent to the new pod in the same turn that the new DNS answer arrives (resolve → release → attempt)`, async () => {
      const host = `move-${method.toLowerCase()}.wait.test`;
      // The old pod is gone (nothing listens: refused); DNS still lists it for its 5 s TTL.
      dns.setRecords(host, { a: ['127.0.45.1'], ttl: 5 });
      const log = eventLog();
      const waits = watch<WaitEvent>(channelNames.wait);
      const agent = newAgent({ deadline: 8_000 });
      const pending = request(`http://${host}:${PORT}/orders`, { method, body: method === 'POST' ? 'once' : undefined, dispatcher: agent });
      await until(() => waits.length > 0, 'the request to park');
      const b = await pod('b', '127.0.45.2');
      dns.setRecords(host, { a: ['127.0.45.2'], ttl: 5 });
      const res = await pending;
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('b');
      expect(b.count(method)).toBe(1);
      // The answer that brought the new pod released the room, and the parked request went there at once.
      const i = log.findIndex((e) => e.channel === channelNames.resolve && (e.message as ResolveEvent).addresses.includes('127.0.45.2'));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(log[i + 1]).toMatchObject({ channel: channelNames.release, message: { hostname: host, reason: 'dns' } satisfies Partial<ReleaseEvent> });
      expect(log[i + 2]).toMatchObject({ channel: channelNames.attempt, message: { address: '127.0.45.2' } satisfies Partial<AttemptEvent> });
    });
  }

  it('while it waits the host is re-queried on the short cadence, within its bound; the give-up keeps the refusal as its cause', async () => {
    const host = 'dead.wait.test';
    dns.setRecords(host, { a: ['127.0.45.3'], ttl: 5 });
    const agent = newAgent({ deadline: 1_000, reResolveWhileWaiting: 50 });
    const before = dns.queryCount(host);
    const started = performance.now();
    const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(errorCode((err as Error).cause)).toBe('ECONNREFUSED');
    // The whole deadline is used, not cut short by a backoff that would not fit.
    expect(elapsed).toBeGreaterThanOrEqual(950);
    const queries = dns.queryCount(host) - before;
    // At most 1.25 re-queries per 50 ms interval (25 in the second), plus the first lookup and the
    // failure-triggered ones (reResolveInterval 500 ms: 2); at least a few show the cadence ran.
    expect(queries).toBeGreaterThanOrEqual(5);
    expect(queries).toBeLessThanOrEqual(25 + 1 + 3);
  });

  it('a name whose first lookups fail (SERVFAIL) and then answer: the request waits and succeeds (no untyped error)', async () => {
    const host = 'blip.wait.test';
    const p = await pod('p', '127.0.45.4');
    dns.setRecords(host, { a: ['127.0.45.4'], ttl: 5 });
    dns.setMode('servfail');
    const agent = newAgent({ deadline: 5_000 });
    const waits = watch<WaitEvent>(channelNames.wait);
    const pending = request(`http://${host}:${PORT}/`, { dispatcher: agent });
    await until(() => waits.length > 0, 'the request to park');
    dns.setMode('normal');
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('p');
    expect(p.count()).toBe(1);
  });

  it('an endpoint that answers again (a restart at the same address) ends every wait', async () => {
    const host = 'restart.wait.test';
    // One pod whose process restarts at the same address: refused for a while, then listening again.
    dns.setRecords(host, { a: ['127.0.45.5'], ttl: 30 });
    const agent = newAgent({ deadline: 8_000 });
    const waits = watch<WaitEvent>(channelNames.wait);
    const requests = [0, 1, 2, 3].map(() => request(`http://${host}:${PORT}/`, { dispatcher: agent }));
    await until(() => waits.length >= 4, 'four requests to park');
    const p = await pod('again', '127.0.45.5');
    const statuses = await Promise.all(requests.map(async (r) => (await r).statusCode));
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(p.count()).toBe(4);
    const stats = Object.values(agent.stats)[0]!;
    expect(stats.waiting).toBe(0);
    expect(stats.endpoints[0]).toMatchObject({ address: '127.0.45.5', state: 'healthy' });
  });
});
