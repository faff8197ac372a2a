/**
 * The watch under faults of the Kubernetes API double: 410 Gone (as an ERROR event and as HTTP 410),
 * a watch broken mid-stream, a token rotated, and an API that is down, refuses (401/403), answers 5xx or
 * is slow: requests are still served by DNS (the testbed DNS server on UDP loopback), never worse.
 * Addresses 127.0.131.x.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { expect, it } from 'vitest';
import type { Pod } from '@ridethrough/testbed';
import { channelNames, type DiscoveryStateEvent, ResilientAgent } from '../../src/index.js';
import { get, type KubeCluster, originStats, podPort, sleep, waitFor, useKubeScope } from './support.js';

const base = '127.0.131';
const host = 'inventory.shop.svc.cluster.local';
const url = `http://${host}:${podPort}/`;
const origin = `http://${host}:${podPort}`;
let podA: Pod | undefined;
const scope = useKubeScope();

function agent(kc: KubeCluster, source = kc.source()): ResilientAgent {
  const a = new ResilientAgent({ dns: kc.cluster.dnsOptions({ minTtl: 60_000, maxTtl: 60_000 }), discovery: source });
  scope.keep(a);
  return a;
}

/** Waits until the agent's endpoints for the origin are exactly `address`. */
function endpointsBecome(ag: ResilientAgent, address: string): Promise<void> {
  return waitFor(
    'the change',
    () =>
      originStats(ag, origin)!
        .endpoints.map((e) => e.address)
        .join() === address,
  );
}

function slice(kc: KubeCluster, address: string): void {
  kc.api.applySlice({ namespace: 'shop', service: 'inventory', endpoints: [{ address }], ports: [{ name: 'http', port: podPort }] });
}

/** Starts pods .1 and .2; DNS names .1, the API names .1; an agent synced with the watch. */
async function synced(kc: KubeCluster): Promise<ResilientAgent> {
  podA = await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60);
  slice(kc, `${base}.1`);
  const ag = agent(kc);
  expect((await get(ag, url)).body).toBe('pod-a');
  await waitFor('the watch to sync', () => originStats(ag, origin)?.endpointsFrom === 'kubernetes');
  return ag;
}

for (const goneAs of ['event', 'http'] as const) {
  it(`relists after 410 Gone (${goneAs === 'event' ? 'an ERROR event in the watch stream' : 'HTTP 410'}) and follows the changes made meanwhile`, async () => {
    const kc = await scope.start(base, { goneAs });
    const ag = await synced(kc);
    const lists = kc.api.lists;
    // Changes while the watch is away, then the history is compacted: the old version is gone.
    kc.api.fault = 'hang';
    kc.api.breakWatches();
    slice(kc, `${base}.2`);
    kc.api.compact();
    kc.api.fault = 'none';
    await waitFor('the relist', () => kc.api.lists > lists);
    await endpointsBecome(ag, `${base}.2`);
    expect((await get(ag, url)).body).toBe('pod-b');
    expect(kc.api.requests.some((r) => r.watch && r.status === (goneAs === 'http' ? 410 : 200) && r.resourceVersion !== undefined)).toBe(true);
    expect(originStats(ag, origin)!.discovery!.state).toBe('synced');
  });
}

it('reconnects after the watch is closed mid-stream, from its resourceVersion (no relist)', async () => {
  const kc = await scope.start(base);
  const ag = await synced(kc);
  const lists = kc.api.lists;
  const watches = kc.api.watches;
  kc.api.breakWatches();
  await waitFor('the watch to reopen', () => kc.api.activeWatches === 1 && kc.api.watches > watches);
  slice(kc, `${base}.2`);
  await endpointsBecome(ag, `${base}.2`);
  expect(kc.api.lists).toBe(lists);
  // A clean end (the server's timeoutSeconds) reopens it too.
  kc.api.endWatches();
  await waitFor('the watch to reopen', () => kc.api.activeWatches === 1);
  slice(kc, `${base}.1`);
  await endpointsBecome(ag, `${base}.1`);
  // Bookmarks move the version on without changes.
  kc.api.bookmark();
  await sleep(50);
  expect(originStats(ag, origin)!.discovery!.state).toBe('synced');
});

for (const fault of ['forbidden', 'unauthorized', 'unavailable', 'hang'] as const) {
  it(`serves requests by DNS when the API is ${fault} from the start`, async () => {
    const kc = await scope.start(base);
    kc.api.fault = fault;
    await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
    kc.cluster.publish(host, [`${base}.1`], 60);
    slice(kc, `${base}.1`);
    const ag = agent(kc);
    for (let i = 0; i < 5; i++) {
      const r = await get(ag, url);
      expect(r.body).toBe('pod-a');
      expect(r.ms).toBeLessThan(200);
    }
    const stats = originStats(ag, origin)!;
    expect(stats.endpointsFrom).toBe('dns');
    if (fault !== 'hang') {
      await waitFor('the failure to show', () => originStats(ag, origin)!.discovery!.state === 'degraded');
      expect(originStats(ag, origin)!.discovery!.error).toBe({ forbidden: 'HTTP 403', unauthorized: 'HTTP 401', unavailable: 'HTTP 503' }[fault]);
    }
  });
}

it('serves requests by DNS while the list is slow, and takes over once it lands', async () => {
  const kc = await scope.start(base);
  kc.api.listDelay = 600;
  await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60);
  slice(kc, `${base}.2`);
  const ag = agent(kc);
  const first = await get(ag, url);
  expect(first.body).toBe('pod-a');
  expect(first.ms).toBeLessThan(200);
  await waitFor('the slow list', () => originStats(ag, origin)?.endpointsFrom === 'kubernetes', 3_000);
  expect((await get(ag, url)).body).toBe('pod-b');
});

it('serves requests by DNS when the API is not even listening', async () => {
  const kc = await scope.start(base);
  await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60);
  const ag = agent(kc, kc.source({ apiServer: `https://${base}.11:${podPort + 9}` }));
  expect((await get(ag, url)).body).toBe('pod-a');
  await waitFor('the failure to show', () => originStats(ag, origin)!.discovery!.state === 'degraded');
  expect(originStats(ag, origin)!.discovery!.error).toBe('ECONNREFUSED');
});

it('hands the host to DNS when the API goes away for longer than staleAfter, and back once it returns', async () => {
  const kc = await scope.start(base);
  const states: DiscoveryStateEvent[] = [];
  const onState = (e: unknown): void => void states.push(e as DiscoveryStateEvent);
  diagnosticsChannel.subscribe(channelNames.discoveryState, onState);
  try {
    const ag = await synced(kc);
    kc.api.fault = 'unavailable';
    kc.api.breakWatches();
    await waitFor('DNS to take over', () => originStats(ag, origin)!.endpointsFrom === 'dns', 2_000);
    expect(states.map((s) => s.state)).toEqual(expect.arrayContaining(['reconnecting', 'degraded']));
    // The pod moves; only DNS knows: requests follow DNS (the re-query after the refusal finds .2).
    await podA!.kill();
    kc.cluster.publish(host, [`${base}.2`], 60);
    const moved = await get(ag, url);
    expect(moved.body).toBe('pod-b');
    expect(moved.ms).toBeLessThan(300);
    kc.api.fault = 'none';
    slice(kc, `${base}.2`);
    await waitFor('the watch to return', () => originStats(ag, origin)!.endpointsFrom === 'kubernetes', 3_000);
    expect((await get(ag, url)).body).toBe('pod-b');
  } finally {
    diagnosticsChannel.unsubscribe(channelNames.discoveryState, onState);
  }
});

it('re-reads the token file when the token rotates', async () => {
  const kc = await scope.start(base);
  const ag = await synced(kc);
  // The API now accepts only the new token; the watch breaks and its reconnects are refused (401)...
  kc.api.setTokens(['rotated-token']);
  kc.api.breakWatches();
  await waitFor('a refusal', () => kc.api.requests.some((r) => r.status === 401));
  // ...until the kubelet writes the new token into the file.
  kc.writeToken('rotated-token');
  await waitFor('the watch to return', () => kc.api.activeWatches === 1, 3_000);
  slice(kc, `${base}.2`);
  await endpointsBecome(ag, `${base}.2`);
  expect(kc.api.requests.at(-1)!.token).toBe('rotated-token');
});
