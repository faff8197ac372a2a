/**
 * Silent endpoints: a replica that takes requests and never answers while its peers do is ejected,
 * and idempotent requests waiting on it are re-sent elsewhere without waiting for `attemptTimeout`;
 * a POST is never sent twice. The node-death case (iptables DROP) needs root.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EndpointEvent, type HedgeEvent, NotRetryableError, channelNames } from '../../src/index.js';
import { IptablesChain, iptablesUnavailableReason } from '@ridethrough/testbed';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_098;
const { dns, agent: newAgent, pod, watch } = useScope({ dnsAddress: '127.0.46.53', port: PORT, dns: { family: 4, hostsFile: false } });

/** Sends `n` requests 20 ms apart (all in flight together), and resolves with each one's outcome and duration. */
async function burst(
  n: number,
  send: () => Promise<{ status: number; body: string }>,
): Promise<{ ok: boolean; status?: number; body?: string; error?: unknown; ms: number }[]> {
  const runs: Promise<{ ok: boolean; status?: number; body?: string; error?: unknown; ms: number }>[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    runs.push(
      send().then(
        (r) => ({ ok: true, ...r, ms: performance.now() - started }),
        (error: unknown) => ({ ok: false, error, ms: performance.now() - started }),
      ),
    );
    await sleep(20);
  }
  return Promise.all(runs);
}

describe('a replica that stops answering while its peers answer', () => {
  it('GET: it is ejected as silent and every request waiting on it is re-sent elsewhere, long before attemptTimeout', async () => {
    const host = 'mute.silent.test';
    await pod('a', '127.0.46.1');
    await pod('b', '127.0.46.2');
    const mute = await pod('mute', '127.0.46.3', () => {});
    dns.setRecords(host, { a: ['127.0.46.1', '127.0.46.2', '127.0.46.3'], ttl: 30 });
    const ejected = watch<EndpointEvent>(channelNames.endpointEjected);
    const hedges = watch<HedgeEvent>(channelNames.hedge);
    const agent = newAgent({ balancer: 'round-robin', attemptTimeout: 5_000 });
    const results = await burst(30, async () => {
      const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
      return { status: res.statusCode, body: await res.body.text() };
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => r.body === 'a' || r.body === 'b')).toBe(true);
    expect(mute.count('GET')).toBeGreaterThanOrEqual(1);
    expect(ejected.filter((e) => e.address === '127.0.46.3').map((e) => e.reason)).toEqual(['silent']);
    expect(hedges.filter((h) => h.reason === 'endpoint-lost').length).toBe(mute.count('GET'));
    // Well under the 5 s attempt timeout (the detector's threshold is 200 ms here; generous margin).
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(2_500);
    const stats = Object.values(agent.stats)[0]!.endpoints.find((e) => e.address === '127.0.46.3')!;
    expect(stats).toMatchObject({ state: 'ejected', ejectedFor: 'silent' });
  });

  it('POST: never sent twice; those the silent replica took fail at attemptTimeout with a typed error saying their outcome is unknown', async () => {
    const host = 'mute-post.silent.test';
    const a = await pod('a', '127.0.46.4');
    const mute = await pod('mute', '127.0.46.5', () => {});
    dns.setRecords(host, { a: ['127.0.46.4', '127.0.46.5'], ttl: 30 });
    const agent = newAgent({ balancer: 'round-robin', attemptTimeout: 800 });
    const results = await burst(10, async () => {
      const res = await request(`http://${host}:${PORT}/orders`, { method: 'POST', body: 'once', dispatcher: agent });
      return { status: res.statusCode, body: await res.body.text() };
    });
    const taken = mute.count('POST');
    expect(taken).toBeGreaterThanOrEqual(1);
    expect(a.count('POST') + taken).toBe(10);
    const failed = results.filter((r) => !r.ok);
    expect(failed).toHaveLength(taken);
    for (const f of failed) {
      expect(f.error).toBeInstanceOf(NotRetryableError);
      expect((f.error as NotRetryableError).reason).toBe('not-idempotent');
      expect((f.error as Error).message).toMatch(/may have reached the server/);
    }
  });

  it('with silentEndpoint: false the GET waits for its attempt timeout instead', async () => {
    const host = 'mute-off.silent.test';
    await pod('a', '127.0.46.6');
    const mute = await pod('mute', '127.0.46.7', () => {});
    dns.setRecords(host, { a: ['127.0.46.6', '127.0.46.7'], ttl: 30 });
    const hedges = watch<HedgeEvent>(channelNames.hedge);
    const agent = newAgent({ balancer: 'round-robin', attemptTimeout: 600, silentEndpoint: false });
    const results = await burst(6, async () => {
      const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
      return { status: res.statusCode, body: await res.body.text() };
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(mute.count('GET')).toBeGreaterThanOrEqual(1);
    expect(hedges).toEqual([]);
    expect(Math.max(...results.map((r) => r.ms))).toBeGreaterThanOrEqual(550);
  });
});

const skipReason = iptablesUnavailableReason();
if (skipReason !== undefined) console.warn(`test/core/silent-endpoint.test.ts (node death) skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('a single replica whose node dies (iptables DROP), then DNS moves', () => {
  const fw = new IptablesChain('RT-TEST-SILENT');
  beforeAll(() => fw.setup());
  afterAll(() => fw.cleanup());

  it('GETs in flight on its kept-alive connections and new ones all ride to the new pod as soon as DNS lists it; a POST on the dead connection is not re-sent', async () => {
    const host = 'node-death.silent.test';
    const old = await pod('old', '127.0.46.10');
    dns.setRecords(host, { a: ['127.0.46.10'], ttl: 30 });
    const ejected = watch<EndpointEvent>(channelNames.endpointEjected);
    try {
      const agent = newAgent({ connectTimeout: 300, attemptTimeout: 3_000, deadline: 8_000 });
      const url = `http://${host}:${PORT}/`;
      // Warm two kept-alive connections, then the node dies: packets to it vanish.
      await Promise.all([0, 1].map(async () => (await request(url, { dispatcher: agent })).body.text()));
      fw.drop('127.0.46.10');
      const started = performance.now();
      const post = request(url, { method: 'POST', body: 'once', dispatcher: agent });
      post.catch(() => {});
      const gets = [0, 1, 2, 3].map(() =>
        request(url, { dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: await r.body.text(), ms: performance.now() - started })),
      );
      // The connect timeout ejects the old address; a little later the replacement is published.
      await sleep(600);
      expect(ejected.some((e) => e.address === '127.0.46.10')).toBe(true);
      await pod('new', '127.0.46.11');
      dns.setRecords(host, { a: ['127.0.46.11'], ttl: 30 });
      const published = performance.now() - started;
      const results = await Promise.all(gets);
      expect(results.map((r) => [r.status, r.body])).toEqual(Array(4).fill([200, 'new']));
      // Each GET finished soon after the new pod was published, not at its 3 s attempt timeout.
      for (const r of results) expect(r.ms).toBeLessThan(published + 1_500);
      const err = await rejection(post);
      expect(err).toBeInstanceOf(NotRetryableError);
      expect(old.count('POST')).toBe(0);
    } finally {
      fw.flush();
    }
  });

  it("connectTimeout is the connect timeout you get: a 250 ms one fires at about 250 ms, not on undici's coarse timer (about 1 s)", async () => {
    const host = 'connect-timer.silent.test';
    dns.setRecords(host, { a: ['127.0.46.12'], ttl: 30 });
    fw.drop('127.0.46.12');
    try {
      const agent = newAgent({ connectTimeout: 250, deadline: 2_000, maxAttempts: 2 });
      const err = await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }));
      const attempts = (err as { attempts: { code?: string; durationMs: number }[] }).attempts;
      expect(attempts[0]).toMatchObject({ code: 'UND_ERR_CONNECT_TIMEOUT' });
      expect(attempts[0]!.durationMs).toBeGreaterThanOrEqual(240);
      expect(attempts[0]!.durationMs).toBeLessThan(700);
    } finally {
      fw.flush();
    }
  });
});
