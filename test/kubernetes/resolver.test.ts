/**
 * The EndpointSlice resolver with real parts: HTTP pods and the testbed DNS server on loopback, the
 * Kubernetes API double over TLS. A move published on the API reaches waiting requests without DNS;
 * endpoint conditions drive traffic; named ports and dual-stack slices. Addresses 127.0.130.x.
 */
import { createServer } from 'node:net';
import diagnosticsChannel from 'node:diagnostics_channel';
import { Agent, request } from 'undici';
import { expect, it } from 'vitest';
import { channelNames, createResilientFetch, type DiscoveryUpdateEvent, resilience, ResilientAgent, resilientConnect } from '../../src/index.js';
import { kubernetesEndpoints } from '../../src/kubernetes/index.js';
import { get, type KubeCluster, originStats, podPort, sleep, waitFor, useKubeScope } from './support.js';

const base = '127.0.130';
const host = 'inventory.shop.svc.cluster.local';
const url = `http://${host}:${podPort}/`;
const origin = `http://${host}:${podPort}`;
const scope = useKubeScope();

function agent(kc: KubeCluster, extra: ConstructorParameters<typeof ResilientAgent>[0] = {}): ResilientAgent {
  // DNS lags on purpose: its answer lives 60 s, so only the API can tell of a move.
  const a = new ResilientAgent({ dns: kc.cluster.dnsOptions({ minTtl: 60_000, maxTtl: 60_000 }), discovery: kc.source(), ...extra });
  scope.keep(a);
  return a;
}

function slice(kc: KubeCluster, endpoints: { address: string; ready?: boolean; serving?: boolean; terminating?: boolean }[], name?: string): void {
  kc.api.applySlice({ namespace: 'shop', service: 'inventory', ...(name === undefined ? {} : { name }), endpoints, ports: [{ name: 'http', port: podPort }] });
}

it('a move published on the API releases a waiting request at once, while DNS still names the old pod', async () => {
  const kc = await scope.start(base);
  const a1 = await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60);
  slice(kc, [{ address: `${base}.1` }]);
  const ag = agent(kc);
  expect((await get(ag, url)).body).toBe('pod-a');
  await waitFor('the watch to sync', () => originStats(ag, origin)?.endpointsFrom === 'kubernetes');

  await a1.kill();
  await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  const pending = get(ag, url);
  await sleep(300);
  slice(kc, [{ address: `${base}.2` }]);
  const res = await pending;
  expect(res.body).toBe('pod-b');
  // Parked until the API's change, then sent in the same turn: the 60 s DNS answer played no part.
  expect(res.ms).toBeLessThan(300 + 250);
  expect(ag.context.dns.peek(host)?.addresses.map((x) => x.address)).toEqual([`${base}.1`]);
  const stats = originStats(ag, origin)!;
  expect(stats.endpointsFrom).toBe('kubernetes');
  expect(stats.discovery).toMatchObject({ source: 'kubernetes', state: 'synced', resource: 'Service shop/inventory' });
  expect(stats.discovery!.lagMs).toBeGreaterThanOrEqual(0);
  expect(stats.endpoints.map((e) => e.address)).toEqual([`${base}.2`]);
});

it('terminating endpoints get no new requests, their requests in flight complete, and they serve when nothing else is left', async () => {
  const kc = await scope.start(base);
  let release: (() => void) | undefined;
  const a = await kc.cluster.startPod('pod-a', `${base}.1`, podPort, (req, res, pod) => {
    req.resume();
    if (req.url === '/slow') release = () => res.end(pod.name);
    else res.end(pod.name);
  });
  const b = await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  kc.cluster.publish(host, [`${base}.1`, `${base}.2`], 60);
  slice(kc, [{ address: `${base}.1` }, { address: `${base}.2` }]);
  const ag = agent(kc);
  await get(ag, url);
  await waitFor('the watch to sync', () => originStats(ag, origin)?.endpointsFrom === 'kubernetes');

  // Pin a slow request on pod-a, then mark pod-a terminating (still serving).
  let slow: Promise<{ status: number; body: string; ms: number }> | undefined;
  for (let i = 0; i < 20 && release === undefined; i++) {
    const attempt = get(ag, `http://${host}:${podPort}/slow`, 5_000);
    await sleep(30);
    if (release !== undefined) slow = attempt;
    else void attempt.catch(() => {});
  }
  expect(slow, 'a slow request landed on pod-a').toBeDefined();
  slice(kc, [{ address: `${base}.1`, ready: false, serving: true, terminating: true }, { address: `${base}.2` }]);
  await waitFor('pod-a to turn terminating', () => originStats(ag, origin)!.endpoints.some((e) => e.address === `${base}.1` && e.terminating));
  const aBefore = a.count();
  const bodies = await Promise.all(Array.from({ length: 30 }, () => get(ag, url).then((r) => r.body)));
  expect(new Set(bodies)).toEqual(new Set(['pod-b']));
  expect(a.count()).toBe(aBefore);
  release!();
  expect(await slow).toMatchObject({ status: 200, body: 'pod-a' });

  // pod-b leaves: pod-a, terminating but serving, is all that is left, and takes the requests (as kube-proxy falls back).
  slice(kc, [{ address: `${base}.1`, ready: false, serving: true, terminating: true }]);
  await waitFor('pod-b to leave', () => originStats(ag, origin)!.endpoints.length === 1);
  await b.kill();
  expect((await get(ag, url)).body).toBe('pod-a');
  // Not serving any more: left out; nothing is left, so the request waits for the next endpoint.
  slice(kc, [{ address: `${base}.1`, ready: false, serving: false, terminating: true }]);
  await waitFor('pod-a to leave', () => originStats(ag, origin)!.endpoints.length === 0);
  const waiting = get(ag, url);
  await sleep(100);
  await kc.cluster.restartPod(b, 'pod-c');
  slice(kc, [{ address: `${base}.2` }]);
  expect((await waiting).body).toBe('pod-c');
});

it('maps the request port to the slice port: by name (portName), by number, or the only port', async () => {
  const kc = await scope.start(base);
  await kc.cluster.startPod('web', `${base}.1`, podPort);
  await kc.cluster.startPod('metrics', `${base}.1`, podPort + 1);
  kc.api.applySlice({
    namespace: 'shop',
    service: 'inventory',
    endpoints: [{ address: `${base}.1` }],
    ports: [
      { name: 'http', port: podPort },
      { name: 'metrics', port: podPort + 1 },
    ],
  });
  // The Service port (80) is not the pod's port: the name says which slice port it is.
  const named = agent(kc, { discovery: kc.source({ portName: { inventory: 'http' } }) });
  kc.cluster.publish(host, [`${base}.1`], 60);
  await get(named, `http://${host}:${podPort}/`);
  await waitFor('the watch to sync', () => originStats(named, origin)?.endpointsFrom === 'kubernetes');
  expect((await get(named, 'http://inventory.shop:80/')).body).toBe('web');
  expect(originStats(named, 'http://inventory.shop:80')!.endpoints[0]).toMatchObject({ address: `${base}.1`, port: podPort });
  // By number: the request's port is a slice port.
  const byNumber = agent(kc);
  expect((await get(byNumber, `http://${host}:${podPort + 1}/`)).body).toBe('metrics');
  await waitFor('the watch to sync', () => originStats(byNumber, `http://${host}:${podPort + 1}`)?.endpointsFrom === 'kubernetes');
  expect((await get(byNumber, `http://${host}:${podPort + 1}/`)).body).toBe('metrics');
  // Two ports, neither 8080 nor named: no port can be chosen, so DNS serves that origin.
  kc.cluster.publish('inventory.shop', [`${base}.1`], 60);
  await get(byNumber, 'http://inventory.shop:8080/', 300).catch(() => undefined);
  await sleep(100);
  expect(originStats(byNumber, 'http://inventory.shop:8080')!.endpointsFrom).toBe('dns');

  // One port only: any Service port maps to it (the Service exposes that one port).
  kc.api.applySlice({ namespace: 'shop', service: 'inventory', endpoints: [{ address: `${base}.1` }], ports: [{ name: '', port: podPort }] });
  const single = agent(kc);
  kc.cluster.publish('inventory', [`${base}.1`], 60);
  await get(single, 'http://inventory:80/').catch(() => undefined);
  await waitFor('the watch to sync', () => originStats(single, 'http://inventory:80')?.endpointsFrom === 'kubernetes');
  expect((await get(single, 'http://inventory:80/')).body).toBe('web');
});

it('merges several slices of a Service, IPv4 and IPv6 (dual-stack), each endpoint on its own port', async () => {
  const kc = await scope.start(base);
  const v6 = await ipv6Loopback();
  await kc.cluster.startPod('v4-a', `${base}.1`, podPort);
  await kc.cluster.startPod('v4-b', `${base}.2`, podPort + 2);
  if (v6) await kc.cluster.startPod('v6', '::1', podPort + 3);
  kc.api.applySlice({
    namespace: 'shop',
    service: 'inventory',
    name: 'inventory-a',
    endpoints: [{ address: `${base}.1` }],
    ports: [{ name: 'http', port: podPort }],
  });
  kc.api.applySlice({
    namespace: 'shop',
    service: 'inventory',
    name: 'inventory-b',
    endpoints: [{ address: `${base}.2` }],
    ports: [{ name: 'http', port: podPort + 2 }],
  });
  if (v6)
    kc.api.applySlice({
      namespace: 'shop',
      service: 'inventory',
      addressType: 'IPv6',
      endpoints: [{ address: '::1' }],
      ports: [{ name: 'http', port: podPort + 3 }],
    });
  kc.cluster.publish(host, [`${base}.1`], 60);
  const ag = agent(kc, { discovery: kc.source({ portName: 'http' }) });
  await get(ag, url);
  await waitFor('the watch to sync', () => originStats(ag, origin)?.endpointsFrom === 'kubernetes');
  const expected = v6 ? ['v4-a', 'v4-b', 'v6'] : ['v4-a', 'v4-b'];
  const seen = new Set<string>();
  for (let i = 0; i < 60 && seen.size < expected.length; i++) seen.add((await get(ag, url)).body);
  expect([...seen].sort()).toEqual(expected);
  expect(
    originStats(ag, origin)!
      .endpoints.map((e) => `${e.address}:${e.port}`)
      .sort(),
  ).toEqual([`${base}.1:${podPort}`, `${base}.2:${podPort + 2}`, ...(v6 ? [`::1:${podPort + 3}`] : [])].sort());
});

it('works for createResilientFetch and the resilience() interceptor, and publishes discovery events', async () => {
  const kc = await scope.start(base);
  await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60); // DNS names a pod that is gone
  slice(kc, [{ address: `${base}.2` }]);
  const updates: DiscoveryUpdateEvent[] = [];
  const onUpdate = (e: unknown): void => void updates.push(e as DiscoveryUpdateEvent);
  diagnosticsChannel.subscribe(channelNames.discoveryUpdate, onUpdate);
  try {
    const source = kc.source();
    const fetchIt = createResilientFetch({ dns: kc.cluster.dnsOptions({ minTtl: 60_000, maxTtl: 60_000 }), discovery: source });
    expect(await (await fetchIt(url)).text()).toBe('pod-b');
    const undiciAgent = new Agent();
    try {
      const dispatcher = undiciAgent.compose(resilience({ dns: kc.cluster.dnsOptions({ minTtl: 60_000, maxTtl: 60_000 }), discovery: source }));
      const res = await request(url, { dispatcher });
      expect(await res.body.text()).toBe('pod-b');
    } finally {
      await undiciAgent.close();
    }
    expect(updates[0]).toMatchObject({ source: 'kubernetes', resource: 'Service shop/inventory', trigger: 'list', ready: [`${base}.2`], terminating: [] });
  } finally {
    diagnosticsChannel.unsubscribe(channelNames.discoveryUpdate, onUpdate);
  }
});

it("resilientConnect through an agent's context dials the endpoint and port the slice names", async () => {
  const kc = await scope.start(base);
  const pod = await kc.cluster.startPod('pod-b', `${base}.2`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60); // DNS names a pod that is gone, on the Service port
  slice(kc, [{ address: `${base}.2` }]);
  const ag = agent(kc, { discovery: kc.source({ portName: 'http' }) });
  // The first connect goes by DNS (refused) until the list lands, then to the slice's endpoint and port.
  const socket = await resilientConnect({ host, port: 80, deadline: 3_000 }, ag.context);
  try {
    expect(socket.remoteAddress).toBe(`${base}.2`);
    expect(socket.remotePort).toBe(podPort);
  } finally {
    socket.destroy();
  }
  expect(pod.connections).toBeGreaterThanOrEqual(1);
});

it('rejects a discovery option that is no discovery source, and bad kubernetesEndpoints options, at construction', () => {
  expect(() => new ResilientAgent({ discovery: {} as never })).toThrow(/option "discovery" must be a discovery source/);
  expect(() => new ResilientAgent({ discovery: 'kubernetes' as never })).toThrow(TypeError);
  expect(() => kubernetesEndpoints({ staleAfter: -1 })).toThrow(/option "staleAfter" must be a number of milliseconds from 0 to 60000/);
  expect(() => kubernetesEndpoints({ apiServer: 'ftp://x' })).toThrow(/option "apiServer"/);
  expect(() => kubernetesEndpoints({ reconnect: { initialDelay: 500, maxDelay: 100 } })).toThrow(RangeError);
  expect(() => kubernetesEndpoints({ portName: 3 as never })).toThrow(/option "portName" must be an object/);
  expect(() => kubernetesEndpoints({ nope: 1 } as never)).toThrow(/unknown option "nope"/);
});

/** Whether ::1 can be listened on here. */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}
