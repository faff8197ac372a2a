/**
 * DNS itself fails while the pods are fine: ridethrough keeps serving the last good answer (stale)
 * instead of failing requests, and a name that never existed fails fast instead of burning the deadline.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientAgent } from '../../src/http/agent.js';
import { createResilientFetch } from '../../src/http/fetch.js';
import { DnsResolutionError, RidethroughError } from '../../src/errors/errors.js';
import { channelNames, type ResolveEvent, type StaleEvent } from '../../src/events/channels.js';
import type { PodBehaviour } from '@ridethrough/testbed';
import { Cluster, failures, recordChannel, script, steadyStream } from '../support/cluster.js';

const DNS_ADDRESS = '127.0.19.53';

/** 200 with the pod's name, and the connection closed: every request needs a new connection. */
const answerAndClose: PodBehaviour = (req, res, pod) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('connection', 'close');
    res.end(pod.name);
  });
};

let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Two stable pods behind `name`, and an agent whose DNS answers last 1 s. */
async function setup(name: string, base: string): Promise<{ c: Cluster; agent: ResilientAgent; url: string }> {
  const c = (cluster = await Cluster.start(DNS_ADDRESS));
  const first = await c.startPod('a', `${base}.1`, 0, answerAndClose);
  const port = first.boundPort;
  await c.startPod('b', `${base}.2`, port, answerAndClose);
  c.publish(name, [`${base}.1`, `${base}.2`], 5);
  const agent = new ResilientAgent({ dns: c.dnsOptions({ maxTtl: 1_000 }) });
  c.defer(() => agent.close());
  return { c, agent, url: `http://${name}:${port}/` };
}

async function get(agent: ResilientAgent, url: string): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher: agent });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('DNS outage with healthy pods', () => {
  it('DNS silent for ~6 s (paused): zero failures, the stale answer is served and reported', async () => {
    const { c, agent, url } = await setup('steady.test', '127.0.7');
    const stale = recordChannel<StaleEvent>(channelNames.stale);
    const resolves = recordChannel<ResolveEvent>(channelNames.resolve);
    c.defer(() => stale.stop());
    c.defer(() => resolves.stop());

    let queriesBefore = 0;
    let queriesDuring = 0;
    const [results] = await Promise.all([
      steadyStream(() => get(agent, url), { rate: 20, durationMs: 9_000 }),
      script([
        [
          1_000,
          () => {
            queriesBefore = c.dns.queryCount('steady.test');
            c.dns.pause();
          },
        ],
        [
          7_000,
          () => {
            queriesDuring = c.dns.queryCount('steady.test') - queriesBefore;
            c.dns.resume();
          },
        ],
      ]),
    ]);

    expect(failures(results)).toEqual([]);
    const inOutage = results.filter((r) => r.at > 1_000 && r.at < 7_000);
    expect(inOutage.length).toBeGreaterThan(100);
    // The cache did ask (and got no answer) during the outage: the window was real.
    expect(queriesDuring).toBeGreaterThan(2);
    expect(resolves.events.some((e) => e.message.hostname === 'steady.test' && e.message.error === 'ETIMEOUT')).toBe(true);
    // ...and said it served the last good answer.
    const staleEvents = stale.events.filter((e) => e.message.hostname === 'steady.test');
    expect(staleEvents.length).toBeGreaterThanOrEqual(1);
    expect(staleEvents[0]!.message.error).toBe('ETIMEOUT');
    expect([...staleEvents[0]!.message.addresses].sort()).toEqual(['127.0.7.1', '127.0.7.2']);
    // No request waited anywhere near the deadline for DNS.
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(5_000);
    // The pods kept answering on new connections throughout.
    expect(inOutage.every((r) => r.body === 'a' || r.body === 'b')).toBe(true);
  });

  it('DNS answering SERVFAIL: zero failures, the stale answer is served and reported', async () => {
    const { c, agent, url } = await setup('servfail.test', '127.0.7');
    const stale = recordChannel<StaleEvent>(channelNames.stale);
    c.defer(() => stale.stop());

    const [results] = await Promise.all([
      steadyStream(() => get(agent, url), { rate: 20, durationMs: 6_000 }),
      script([
        [1_000, () => c.dns.setMode('servfail')],
        [5_000, () => c.dns.setMode('normal')],
      ]),
    ]);

    expect(failures(results)).toEqual([]);
    const staleEvents = stale.events.filter((e) => e.message.hostname === 'servfail.test');
    expect(staleEvents.length).toBeGreaterThanOrEqual(1);
    expect(staleEvents[0]!.message.error).toBe('ESERVFAIL');
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(3_000);
  });

  it('a name that never resolved (NXDOMAIN) fails fast with DnsResolutionError, not at the deadline', async () => {
    const { c, agent } = await setup('exists.test', '127.0.7');
    const resilient = createResilientFetch({ agent });

    const started = performance.now();
    const err = await resilient('http://never-existed.test:8080/').then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;

    expect(err).toBeInstanceOf(DnsResolutionError);
    expect(err).toBeInstanceOf(RidethroughError);
    const dnsErr = err as DnsResolutionError;
    expect(dnsErr.code).toBe('RIDETHROUGH_DNS');
    expect(dnsErr.dnsCode).toBe('ENOTFOUND');
    expect(dnsErr.retryable).toBe(false);
    expect(dnsErr.hostname).toBe('never-existed.test');
    // The deadline is 10 s; an NXDOMAIN is final and takes one DNS round trip.
    expect(elapsed).toBeLessThan(1_500);
    // One query per family, no retry loop.
    expect(c.dns.queryCount('never-existed.test')).toBeLessThanOrEqual(2);

    // Same through undici's request() with the agent as dispatcher.
    const viaRequest = await request('http://never-existed-2.test:8080/', { dispatcher: agent }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(viaRequest).toBeInstanceOf(DnsResolutionError);
    expect((viaRequest as DnsResolutionError).dnsCode).toBe('ENOTFOUND');
  });
});
