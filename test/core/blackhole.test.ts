/**
 * Blackholed pods (SYNs and packets silently dropped, as when a node dies): real iptables DROP rules
 * on loopback addresses. Needs root; under CI=true a missing root or iptables fails the suite.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ResilientAgent } from '../../src/http/agent.js';
import { channelNames, type EndpointEvent } from '../../src/events/channels.js';
import { Cluster, failures, favourite, recordChannel, script, steadyStream } from '../support/cluster.js';
import { IptablesChain, iptablesUnavailableReason } from '@ridethrough/testbed';

const DNS_ADDRESS = '127.0.19.53';
const CHAIN = 'RT-TEST-CORE';

const skipReason = iptablesUnavailableReason();
if (skipReason !== undefined) console.warn(`test/core/blackhole.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('blackholed pods (iptables DROP)', () => {
  const fw = new IptablesChain(CHAIN);
  let cluster: Cluster | undefined;

  beforeAll(() => {
    fw.setup();
  });

  afterEach(async () => {
    fw.flush();
    await cluster?.close();
    cluster = undefined;
  });

  afterAll(() => {
    fw.cleanup();
  });

  /** An agent torn down with the cluster; destroyed rather than closed, as dead connections may linger. */
  function agentFor(c: Cluster, options: ConstructorParameters<typeof ResilientAgent>[0] = {}): ResilientAgent {
    const agent = new ResilientAgent({ dns: c.dnsOptions(), ...options });
    c.defer(() => agent.destroy());
    return agent;
  }

  async function get(agent: ResilientAgent, url: string): Promise<{ status: number; body: string }> {
    const res = await request(url, { dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text() };
  }

  it('two replicas, one blackholed: every request succeeds on the other, none waits near the 10 s connect timeout', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const dark = await c.startPod('dark', '127.0.3.1', 0);
    const port = dark.boundPort;
    const live = await c.startPod('live', '127.0.3.2', port);
    c.publish('pair.test', ['127.0.3.1', '127.0.3.2'], 5);
    fw.drop('127.0.3.1');

    const agent = agentFor(c); // connectTimeout: 1000 by default
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    c.defer(() => ejected.stop());

    const results = await steadyStream(() => get(agent, `http://pair.test:${port}/`), { rate: 20, durationMs: 3_000 });

    expect(failures(results)).toEqual([]);
    expect(results.every((r) => r.body === 'live')).toBe(true);
    // Each request is bounded by the silence threshold (its peer answers meanwhile) or one 1 s connect
    // timeout, plus a retry: far from undici's 10 s.
    const slowest = Math.max(...results.map((r) => r.ms));
    expect(slowest).toBeLessThan(3_000);
    expect(dark.count()).toBe(0);
    expect(live.count()).toBe(results.length);
    // The blackhole was really hit: the address was ejected, as silent (its peer answered while its
    // connect hung) or for its connect timeout.
    const dark1 = ejected.events.filter((e) => e.message.address === '127.0.3.1');
    expect(dark1.length).toBeGreaterThanOrEqual(1);
    expect(['silent', 'UND_ERR_CONNECT_TIMEOUT']).toContain(dark1[0]!.message.reason);
    expect(slowest).toBeGreaterThanOrEqual(150);
  });

  it('a replica blackholed mid-stream: requests pinned on its keep-alive connections are retried on the other one', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const first = await c.startPod('p5', '127.0.3.5', 0);
    const port = first.boundPort;
    const pods = [first, await c.startPod('p6', '127.0.3.6', port)];
    c.publish(
      'pinned.test',
      pods.map((p) => p.address),
      5,
    );

    const agent = agentFor(c, { attemptTimeout: 1_500 });
    let dark = first;
    let counts: number[] = [];
    const [results] = await Promise.all([
      steadyStream(() => get(agent, `http://pinned.test:${port}/`), { rate: 20, durationMs: 4_000 }),
      // Blackhole the replica the balancer favours, so its kept-alive connections are surely in use.
      script([
        [
          600,
          () => {
            counts = pods.map((p) => p.count());
          },
        ],
        [
          1_000,
          () => {
            dark = favourite(pods, counts);
            fw.drop(dark.address);
          },
        ],
      ]),
    ]);

    expect(failures(results)).toEqual([]);
    const before = results.filter((r) => r.at < 900);
    expect(
      before.some((r) => r.body === dark.name),
      'the dark pod served before it went dark',
    ).toBe(true);
    // Bounded by the silence threshold or attemptTimeout (1.5 s) plus a retry: nowhere near undici's 300 s headers timeout.
    const slowest = Math.max(...results.map((r) => r.ms));
    expect(slowest).toBeLessThan(5_000);
    // The blackhole was really hit: a request waited for its endpoint to be found silent, or timed out.
    expect(slowest).toBeGreaterThanOrEqual(150);
    const darkStats = Object.values(agent.stats)
      .flatMap((s) => s.endpoints)
      .find((e) => e.address === dark.address);
    expect(darkStats?.failures ?? 0).toBeGreaterThan(0);
    expect(results.filter((r) => r.at > 3_000).every((r) => r.body !== dark.name)).toBe(true);
  });

  it('single replica: the old pod is blackholed, a new one is published in DNS 1.5 s later: zero failures', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const oldPod = await c.startPod('old', '127.0.3.3', 0);
    const port = oldPod.boundPort;
    c.publish('solo.test', ['127.0.3.3'], 5);

    const agent = agentFor(c); // all defaults: 10 s deadline, 1 s connect timeout, 5 s attempt timeout
    const [results] = await Promise.all([
      steadyStream(() => get(agent, `http://solo.test:${port}/`), { rate: 20, durationMs: 5_000 }),
      script([
        [
          1_000,
          async () => {
            fw.drop('127.0.3.3');
            await c.startPod('new', '127.0.3.4', port);
          },
        ],
        [2_500, () => c.publish('solo.test', ['127.0.3.4'], 5)],
      ]),
    ]);

    expect(failures(results)).toEqual([]);
    expect(results.some((r) => r.body === 'old')).toBe(true);
    expect(results.some((r) => r.body === 'new')).toBe(true);
    expect(results.filter((r) => r.at > 4_000).every((r) => r.body === 'new')).toBe(true);
    // Even a request pinned on a dead keep-alive connection finished within the 10 s deadline.
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(10_000);
  });
});
