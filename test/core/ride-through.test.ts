/**
 * The core promise, end to end with real parts: a pod moves (or one replica dies) while DNS still
 * points at the old address, and requests through ridethrough keep succeeding, while a plain client
 * that caches DNS the usual way fails during the same window.
 */
import { Resolver } from 'node:dns/promises';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientAgent } from '../../src/http/agent.js';
import { createResilientFetch } from '../../src/http/fetch.js';
import { channelNames, type EndpointEvent, type RetryEvent } from '../../src/events/channels.js';
import { Cluster, failures, killFavourite, recordChannel, recordConnections, script, steadyStream, type StreamResult } from '../support/cluster.js';
import type { Pod } from '@ridethrough/testbed';

const DNS_ADDRESS = '127.0.19.53';

let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/**
 * A client that does what most clients do: resolve the name, keep the answer for its TTL, and connect
 * to the cached IP with a plain undici Agent (no retry, no re-resolve on failure).
 */
class StaleCachingClient {
  private readonly resolver = new Resolver({ timeout: 500, tries: 2 });
  private readonly agent = new Agent();
  private cached: { address: string; expiresAt: number } | undefined;
  private resolving: Promise<string> | undefined;

  constructor(dnsServer: string) {
    this.resolver.setServers([dnsServer]);
  }

  async get(hostname: string, port: number, path: string): Promise<{ status: number; body: string }> {
    const address = await this.address(hostname);
    const res = await undiciFetch(`http://${address}:${port}${path}`, { dispatcher: this.agent });
    return { status: res.status, body: await res.text() };
  }

  private address(hostname: string): Promise<string> {
    if (this.cached && Date.now() < this.cached.expiresAt) return Promise.resolve(this.cached.address);
    this.resolving ??= this.resolver
      .resolve4(hostname, { ttl: true })
      .then(([first]) => {
        if (!first) throw new Error(`no address for ${hostname}`);
        this.cached = { address: first.address, expiresAt: Date.now() + first.ttl * 1000 };
        return first.address;
      })
      .finally(() => {
        this.resolving = undefined;
      });
    return this.resolving;
  }

  close(): Promise<void> {
    this.resolver.cancel();
    return this.agent.close();
  }
}

function okCount(results: readonly StreamResult[]): number {
  return results.filter((r) => r.status === 200).length;
}

describe('a pod moves to a new address while DNS lags', () => {
  it('ridethrough sees zero failures while a TTL-caching plain undici client fails', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const oldPod = await c.startPod('old', '127.0.1.1', 0);
    const port = oldPod.boundPort;
    c.publish('backend.test', ['127.0.1.1'], 5);

    const agent = new ResilientAgent({ dns: c.dnsOptions() });
    c.defer(() => agent.close());
    const resilient = createResilientFetch({ agent });
    const stale = new StaleCachingClient(c.dns.server);
    c.defer(() => stale.close());
    const retries = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => retries.stop());

    const url = `http://backend.test:${port}/items`;
    const stream = { rate: 50, durationMs: 5_000 };
    let newPodAt = 0;
    const [viaRidethrough, viaPlain] = await Promise.all([
      steadyStream(async () => {
        const res = await resilient(url);
        return { status: res.status, body: await res.text() };
      }, stream),
      steadyStream(() => stale.get('backend.test', port, '/items'), stream),
      script([
        // The pod is killed (refuses connections) and its replacement starts elsewhere...
        [
          1_000,
          async () => {
            await oldPod.kill();
            await c.startPod('new', '127.0.1.2', port);
            newPodAt = performance.now();
          },
        ],
        // ...and DNS catches up 1.5 s later.
        [2_500, () => c.publish('backend.test', ['127.0.1.2'], 5)],
      ]),
    ]);
    expect(newPodAt).toBeGreaterThan(0);

    // The window was real: the plain client, holding the old address for its TTL, failed in it.
    const plainFailures = viaPlain.filter((r) => r.status !== 200);
    expect(plainFailures.length, 'the plain client should fail while it holds the old address').toBeGreaterThan(10);
    expect(
      plainFailures.every((r) => r.at >= 500),
      'no plain failures before the move',
    ).toBe(true);
    expect(plainFailures.some((r) => /ECONNREFUSED|UND_ERR_SOCKET|ECONNRESET/.test(r.error ?? ''))).toBe(true);

    // ridethrough rode through it: every request succeeded, some by retrying.
    expect(failures(viaRidethrough)).toEqual([]);
    expect(okCount(viaRidethrough)).toBe(viaRidethrough.length);
    expect(viaRidethrough.length).toBeGreaterThanOrEqual(240);
    expect(viaRidethrough.some((r) => r.body === 'old')).toBe(true);
    expect(viaRidethrough.some((r) => r.body === 'new')).toBe(true);
    expect(retries.events.length, 'requests in the window needed retries').toBeGreaterThan(0);
    expect(retries.events.every((e) => e.message.address === undefined || e.message.address === '127.0.1.1')).toBe(true);
    // Requests that started after DNS moved went straight to the new pod.
    expect(viaRidethrough.filter((r) => r.at > 3_500).every((r) => r.body === 'new')).toBe(true);
  });

  it("works through undici request(), undici fetch and Node's built-in fetch with the agent as dispatcher", async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const oldPod = await c.startPod('old', '127.0.5.1', 0);
    const port = oldPod.boundPort;
    c.publish('move.test', ['127.0.5.1'], 5);

    const agent = new ResilientAgent({ dns: c.dnsOptions() });
    c.defer(() => agent.close());
    const url = `http://move.test:${port}/x`;
    const stream = { rate: 15, durationMs: 4_000 };

    const [viaRequest, viaUndiciFetch, viaNodeFetch] = await Promise.all([
      steadyStream(async () => {
        const res = await request(url, { dispatcher: agent });
        return { status: res.statusCode, body: await res.body.text() };
      }, stream),
      steadyStream(async () => {
        const res = await undiciFetch(url, { dispatcher: agent });
        return { status: res.status, body: await res.text() };
      }, stream),
      steadyStream(async () => {
        // Node's own fetch (undici 7 inside Node 24) with ridethrough's (undici 8) dispatcher.
        const init = { dispatcher: agent } as unknown as RequestInit;
        const res = await globalThis.fetch(url, init);
        return { status: res.status, body: await res.text() };
      }, stream),
      script([
        [
          1_000,
          async () => {
            await oldPod.kill();
            await c.startPod('new', '127.0.5.2', port);
          },
        ],
        [2_500, () => c.publish('move.test', ['127.0.5.2'], 5)],
      ]),
    ]);

    for (const [name, results] of [
      ['request()', viaRequest],
      ['undici fetch', viaUndiciFetch],
      ['node fetch', viaNodeFetch],
    ] as const) {
      expect(failures(results), name).toEqual([]);
      expect(
        results.some((r) => r.body === 'old'),
        `${name} reached the old pod`,
      ).toBe(true);
      expect(
        results.some((r) => r.body === 'new'),
        `${name} reached the new pod`,
      ).toBe(true);
    }
    // Requests in the window really did hit the dead address first.
    const dead = Object.values(agent.stats)
      .flatMap((s) => s.endpoints)
      .filter((e) => e.address === '127.0.5.1');
    expect(dead.every((e) => e.failures > 0)).toBe(true);
  });
});

describe('one of three replicas dies', () => {
  it('zero failures, and the dead address gets no new connections until it is back in DNS', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const all = ['127.0.2.1', '127.0.2.2', '127.0.2.3'];
    const pods = [await c.startPod('a', all[0]!, 0)];
    const port = pods[0]!.boundPort;
    pods.push(await c.startPod('b', all[1]!, port), await c.startPod('c', all[2]!, port));
    c.publish('replicas.test', all, 1);

    const agent = new ResilientAgent({ dns: c.dnsOptions() });
    c.defer(() => agent.close());
    const connects = recordConnections();
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    c.defer(() => connects.stop());
    c.defer(() => ejected.stop());

    const kill = killFavourite(pods);
    let restarted: Pod | undefined;
    let backInDnsAt = 0;
    const results = await Promise.all([
      steadyStream(
        async () => {
          const res = await request(`http://replicas.test:${port}/`, { dispatcher: agent });
          return { status: res.statusCode, body: await res.body.text() };
        },
        { rate: 40, durationMs: 8_000 },
      ),
      script([
        ...kill.steps,
        [
          2_500,
          () =>
            c.publish(
              'replicas.test',
              all.filter((a) => a !== kill.victim()!.address),
              1,
            ),
        ],
        [
          5_000,
          async () => {
            restarted = await c.restartPod(kill.victim()!, 'restarted');
            backInDnsAt = Date.now();
            c.publish('replicas.test', all, 1);
          },
        ],
      ]),
    ]).then(([r]) => r);

    expect(failures(results)).toEqual([]);
    const dead = kill.victim()!.address;
    const victimEjections = ejected.events.filter((e) => e.message.address === dead);
    expect(victimEjections.length, 'the dead replica was ejected').toBeGreaterThanOrEqual(1);
    expect(victimEjections[0]!.message.reason).toBe('ECONNREFUSED');
    const ejectedAt = victimEjections[0]!.at;
    expect(backInDnsAt).toBeGreaterThan(ejectedAt);

    const toVictim = (from: number, to: number): number => connects.count(dead, from + 1, to);
    // From the first refusal until DNS lists it again, nobody even tries to connect to it.
    expect(toVictim(ejectedAt, backInDnsAt)).toBe(0);
    // The surviving replicas took the load meanwhile.
    const survivors = pods.filter((p) => p !== kill.victim());
    expect(survivors.reduce((n, p) => n + p.count(), 0)).toBeGreaterThan(100);
    // Back in DNS with a live pod: it receives traffic again.
    expect(toVictim(backInDnsAt, Infinity)).toBeGreaterThan(0);
    expect(restarted!.count()).toBeGreaterThan(0);
  });

  it('an ejected address still in DNS gets no connections while ejected, and traffic again once the ejection expires', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const all = ['127.0.6.1', '127.0.6.2', '127.0.6.3'];
    const pods = [await c.startPod('a', all[0]!, 0)];
    const port = pods[0]!.boundPort;
    pods.push(await c.startPod('b', all[1]!, port), await c.startPod('c', all[2]!, port));
    c.publish('eject.test', all, 1);

    const agent = new ResilientAgent({ dns: c.dnsOptions(), ejection: { baseTime: 1_000 } });
    c.defer(() => agent.close());
    const connects = recordConnections();
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    const restored = recordChannel<EndpointEvent>(channelNames.endpointRestored);
    c.defer(() => connects.stop());
    c.defer(() => ejected.stop());
    c.defer(() => restored.stop());

    const kill = killFavourite(pods);
    let restarted: Pod | undefined;
    const results = await Promise.all([
      steadyStream(
        async () => {
          const res = await request(`http://eject.test:${port}/`, { dispatcher: agent });
          return { status: res.statusCode, body: await res.body.text() };
        },
        { rate: 30, durationMs: 5_000 },
      ),
      script([
        ...kill.steps,
        // Back well before the ejection (1 s ± 15 %) ends; DNS listed it all along.
        [
          1_400,
          async () => {
            restarted = await c.restartPod(kill.victim()!, 'restarted');
          },
        ],
      ]),
    ]).then(([r]) => r);

    expect(failures(results)).toEqual([]);
    const dead = kill.victim()!.address;
    const victimEjections = ejected.events.filter((e) => e.message.address === dead);
    expect(victimEjections.length).toBeGreaterThanOrEqual(1);
    for (const { at, message } of victimEjections) {
      expect(message.ejectedForMs).toBeGreaterThanOrEqual(800);
      expect(message.ejectedForMs).toBeLessThanOrEqual(2_400);
      expect(connects.count(dead, at + 1, at + message.ejectedForMs - 20), 'connections to an ejected address').toBe(0);
    }
    expect(restored.events.some((e) => e.message.address === dead)).toBe(true);
    expect(restarted!.count(), 'the restarted pod receives traffic after the ejection').toBeGreaterThan(0);
  });
});
