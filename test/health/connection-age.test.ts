/**
 * Connection age: behind a ClusterIP, one endpoint address hides many pods and a keep-alive client stays
 * pinned to the pods its connections first reached. `maxConnectionAge` retires connections by age, so
 * after a scale-up new connections (and traffic) reach the new pods. The ClusterIP is real kernel NAT:
 * iptables nat OUTPUT DNAT with `-m statistic --mode random` rules in our own chain, as kube-proxy
 * writes them; conntrack keeps established connections on their pod. Needs root (under CI=true a
 * missing root fails the suite). Addresses 127.0.94.x.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RetryEvent, channelNames } from '../../src/events/channels.js';
import { Cluster, recordChannel, sleep } from '../support/cluster.js';
import { iptablesUnavailableReason, NatChain, type Pod } from '@ridethrough/testbed';
import { HEALTH_NAT_CHAIN, agentFor, originStats, send } from './support/helpers.js';

const DNS_ADDRESS = '127.0.94.53';
const VIP = '127.0.94.100';
const PORT = 18_094;

const skipReason = iptablesUnavailableReason();
if (skipReason !== undefined) console.warn(`test/health/connection-age.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('maxConnectionAge behind a ClusterIP (iptables DNAT)', () => {
  const nat = new NatChain(HEALTH_NAT_CHAIN);
  let cluster: Cluster | undefined;

  beforeAll(() => {
    nat.setup();
  });

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  afterAll(() => {
    nat.cleanup();
  });

  /** Six pods; the Service first routes to the first two. */
  async function service(): Promise<{ c: Cluster; pods: Pod[]; url: string }> {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const pods: Pod[] = [];
    for (let i = 1; i <= 6; i++) {
      const pod = await c.startPod(`pod${i}`, `127.0.94.${i}`, PORT);
      // Long server keep-alive (advertised as Keep-Alive: timeout=60): idle connections are not closed
      // during a test, so only maxConnectionAge can move a connection to another pod.
      pod.server.keepAliveTimeout = 60_000;
      pods.push(pod);
    }
    nat.balance(
      VIP,
      PORT,
      pods.slice(0, 2).map((p) => p.address),
    );
    await nat.verify(VIP, PORT);
    c.publish('svc.age.test', [VIP], 30);
    return { c, pods, url: `http://svc.age.test:${PORT}/` };
  }

  /** `workers` loops each sending one request at a time (with a short pause) until `stop()` holds. */
  async function traffic(send1: () => Promise<number>, workers: number, stop: () => boolean): Promise<number[]> {
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (!stop()) {
          statuses.push(await send1());
          await sleep(15);
        }
      }),
    );
    return statuses;
  }

  const counts = (pods: readonly Pod[]): number[] => pods.map((p) => p.count());

  /** Retries seen (reason and time); there should be none. */
  function recordRetries(c: Cluster): () => string[] {
    const rec = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => rec.stop());
    return () => rec.events.map((e) => `${new Date(e.at).toISOString()} ${e.message.reason}`);
  }

  /**
   * Established DNATed connections reset (ECONNRESET) mean the kernel lost their NAT bindings: their next
   * packet was re-NATed or sent to the VIP itself and answered with a RST. We reproduced that by deleting
   * the ip nat table (`nft delete table ip nat`) under open connections, and saw it now and then while other
   * suites changed netfilter state (conntrack then logged mid-stream pickups, "ACKed data not seen yet").
   */
  const interference =
    'requests through the ClusterIP failed and were retried: ECONNRESET on kept-alive connections means their NAT ' +
    'bindings were lost (another process changing netfilter state during the test?); ECONNREFUSED means the DNAT rules were missing';

  it('after a scale-up from 2 to 6 pods, connections older than maxConnectionAge are replaced and all 6 pods get traffic', async () => {
    const { c, pods, url } = await service();
    const agent = agentFor(c, { maxConnectionAge: 2_000, connectionsPerEndpoint: 8 });
    const get = async (): Promise<number> => (await send(agent, url)).status;
    const retries = recordRetries(c);

    // Two pods behind the Service: 8 concurrent callers fill the pool with keep-alive connections.
    let until = Date.now() + 1_000;
    const before = await traffic(get, 8, () => Date.now() > until);
    expect(before.every((s) => s === 200)).toBe(true);
    expect(counts(pods).slice(2)).toEqual([0, 0, 0, 0]);
    expect(pods[0]!.count() + pods[1]!.count()).toBe(before.length);
    // ridethrough sees a single endpoint: the ClusterIP.
    expect(originStats(agent, `http://svc.age.test:${PORT}`).endpoints.map((e) => e.address)).toEqual([VIP]);

    // Scale-up: the Service now routes new connections to any of six pods.
    nat.balance(
      VIP,
      PORT,
      pods.map((p) => p.address),
    );
    const scaledAt = Date.now();
    const atScale = counts(pods);
    until = scaledAt + 15_000;
    const reachedAll = (): boolean => pods.every((p, i) => p.count() > atScale[i]!);
    const after = await traffic(get, 8, () => reachedAll() || Date.now() > until);
    const tookMs = Date.now() - scaledAt;

    expect(after.every((s) => s === 200)).toBe(true);
    // Connections retired by age are closed between requests: nothing fails, nothing is retried.
    expect(retries(), interference).toEqual([]);
    expect(
      pods.map((p, i) => p.count() - atScale[i]!),
      'requests per pod after the scale-up',
    ).toSatisfy((d: number[]) => d.every((n) => n > 0));
    // New pods were reached through new connections, opened as old ones aged out (~2 s each).
    expect(pods.slice(2).every((p) => p.connections > 0)).toBe(true);
    // The oldest connections were ~1 s old at the scale-up and live at least 1.8 s (2 s - 10 % jitter).
    expect(tookMs).toBeGreaterThanOrEqual(700);
    expect(tookMs).toBeLessThan(15_000);
    const stats = originStats(agent, `http://svc.age.test:${PORT}`);
    expect(stats.endpoints).toMatchObject([{ address: VIP, state: 'healthy', failures: 0, inFlight: 0 }]);
  });

  it('control: with maxConnectionAge 0 the kept-alive connections stay pinned to the first two pods', async () => {
    const { c, pods, url } = await service();
    const agent = agentFor(c, { maxConnectionAge: 0, connectionsPerEndpoint: 8 });
    const get = async (): Promise<number> => (await send(agent, url)).status;
    const retries = recordRetries(c);

    let until = Date.now() + 1_000;
    await traffic(get, 8, () => Date.now() > until);
    const connectionsBefore = pods[0]!.connections + pods[1]!.connections;
    nat.balance(
      VIP,
      PORT,
      pods.map((p) => p.address),
    );
    const atScale = counts(pods);
    until = Date.now() + 4_000;
    const after = await traffic(get, 8, () => Date.now() > until);

    expect(after.every((s) => s === 200)).toBe(true);
    expect(retries(), interference).toEqual([]);
    expect(after.length).toBeGreaterThan(200);
    // Twice the age the other test used, and not one request reached the new pods.
    expect(pods.slice(2).map((p) => p.count())).toEqual([0, 0, 0, 0]);
    expect(pods.slice(2).map((p) => p.connections)).toEqual([0, 0, 0, 0]);
    expect(pods[0]!.count() - atScale[0]! + pods[1]!.count() - atScale[1]!).toBe(after.length);
    expect(pods[0]!.connections + pods[1]!.connections).toBe(connectionsBefore);
  });
});
