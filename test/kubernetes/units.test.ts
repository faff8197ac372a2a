/**
 * The resolver's pure parts: which names are Services, how slices merge under a port rule, and how an
 * endpoint set keeps terminating endpoints out of rotation while others are left.
 */
import { describe, expect, it } from 'vitest';
import { EndpointSet } from '../../src/endpoints/endpoint-set.js';
import type { DnsAnswer, ResolvedAddress } from '../../src/resolve/dns-cache.js';
import { serviceOf } from '../../src/kubernetes/names.js';
import { type EndpointSlice, mergeSlices, slicePort } from '../../src/kubernetes/slices.js';
import { monotonicNow } from '../../src/timing/clock.js';

describe('serviceOf', () => {
  it.each([
    ['inventory.shop.svc.cluster.local', { service: 'inventory', namespace: 'shop' }],
    ['inventory.shop.svc.cluster.local.', { service: 'inventory', namespace: 'shop' }],
    ['Inventory.Shop.svc', { service: 'inventory', namespace: 'shop' }],
    ['inventory.shop', { service: 'inventory', namespace: 'shop' }],
    ['inventory', { service: 'inventory', namespace: 'default-ns' }],
    ['api.github.com', undefined],
    ['a.b.c.svc.cluster.local', undefined],
    ['localhost', undefined],
    ['127.0.0.1', undefined],
    ['::1', undefined],
    ['9lives.shop', undefined],
    ['under_score.shop', undefined],
  ])('%s', (host, expected) => {
    expect(serviceOf(host, 'cluster.local', 'default-ns')).toEqual(expected);
  });

  it('one-label names need a namespace; other cluster domains', () => {
    expect(serviceOf('inventory', 'cluster.local', undefined)).toBeUndefined();
    expect(serviceOf('inventory.shop.svc.corp.example', 'corp.example', undefined)).toEqual({ service: 'inventory', namespace: 'shop' });
  });
});

const slice = (name: string, addressType: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports']): EndpointSlice => ({
  metadata: { name },
  addressType,
  endpoints,
  ports,
});

describe('mergeSlices', () => {
  it('applies the conditions: ready, serving+terminating, and neither; unset fields as the API says', () => {
    const s = slice(
      'a',
      'IPv4',
      [
        { addresses: ['10.0.0.1'], conditions: { ready: true } },
        { addresses: ['10.0.0.2'], conditions: {} },
        { addresses: ['10.0.0.3'], conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ['10.0.0.4'], conditions: { ready: false, serving: false, terminating: true } },
        { addresses: ['10.0.0.5'], conditions: { ready: false } },
      ],
      [{ name: 'http', port: 8080, protocol: 'TCP' }],
    );
    expect(mergeSlices([s], { name: 'http' }).addresses).toEqual([
      { address: '10.0.0.1', family: 4, port: 8080 },
      { address: '10.0.0.2', family: 4, port: 8080 },
      { address: '10.0.0.3', family: 4, port: 8080, terminating: true },
    ]);
  });

  it('merges IPv4 and IPv6 slices (IPv4 first), skips FQDN slices, keeps one entry per address (ready wins)', () => {
    const v6 = slice('v6', 'IPv6', [{ addresses: ['fd00::1'] }], [{ name: 'http', port: 80 }]);
    const v4 = slice('v4', 'IPv4', [{ addresses: ['10.0.0.1'], conditions: { ready: false, serving: true, terminating: true } }], [{ name: 'http', port: 80 }]);
    const again = slice('v4b', 'IPv4', [{ addresses: ['10.0.0.1'] }], [{ name: 'http', port: 80 }]);
    const fqdn = slice('f', 'FQDN', [{ addresses: ['example.com'] }], [{ name: 'http', port: 80 }]);
    expect(mergeSlices([v6, v4, again, fqdn], { requestPort: 80 }).addresses).toEqual([
      { address: '10.0.0.1', family: 4, port: 80 },
      { address: 'fd00::1', family: 6, port: 80 },
    ]);
  });

  it('maps ports: by name, by number, the only TCP port, unrestricted (no ports), or none', () => {
    const two = slice(
      'a',
      'IPv4',
      [],
      [
        { name: 'http', port: 8080 },
        { name: 'metrics', port: 9090 },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    );
    expect(slicePort(two, { name: 'metrics' })).toBe(9090);
    expect(slicePort(two, { name: 'grpc' })).toBeUndefined();
    expect(slicePort(two, { requestPort: 8080 })).toBe(8080);
    expect(slicePort(two, { requestPort: 80 })).toBeUndefined();
    expect(
      slicePort(
        slice(
          'b',
          'IPv4',
          [],
          [
            { name: '', port: 8080 },
            { name: 'dns', port: 53, protocol: 'UDP' },
          ],
        ),
        { requestPort: 80 },
      ),
    ).toBe(8080);
    expect(slicePort(slice('c', 'IPv4', [], null), { requestPort: 80 })).toBe(80);
    expect(
      mergeSlices(
        [
          slice(
            'd',
            'IPv4',
            [{ addresses: ['10.0.0.1'] }],
            [
              { name: 'a', port: 1 },
              { name: 'b', port: 2 },
            ],
          ),
        ],
        { requestPort: 80 },
      ),
    ).toEqual({ addresses: [], unmatched: 1 });
  });
});

describe('EndpointSet with terminating endpoints', () => {
  const settings = {
    ejection: { baseTime: 10_000, maxTime: 120_000, maxPercent: 50, consecutiveFailures: 5 },
    balancer: 'round-robin' as const,
    reResolveWhileWaiting: 50,
  };
  const answer = (addresses: ResolvedAddress[]): DnsAnswer => ({
    hostname: 'svc',
    addresses,
    source: 'discovery',
    fetchedAt: 0,
    expiresAt: Infinity,
    stale: false,
  });

  it('picks ready endpoints only while any is left, then the terminating ones; replaces an endpoint whose port changed; ignores DNS while governed', () => {
    const removed: string[] = [];
    const set = new EndpointSet('svc', settings, (e) => removed.push(`${e.address.address}:${e.address.port}`));
    set.governed = true;
    set.update(
      answer([
        { address: '10.0.0.1', family: 4, port: 80 },
        { address: '10.0.0.2', family: 4, port: 80, terminating: true },
      ]),
    );
    for (let i = 0; i < 10; i++) expect(set.pickFirst()!.address.address).toBe('10.0.0.1');
    expect(set.pick(['10.0.0.1'], '10.0.0.1', monotonicNow())!.address.address).toBe('10.0.0.1');
    // A DNS answer while a discovery source governs the set changes nothing.
    set.update({ ...answer([{ address: '10.9.9.9', family: 4 }]), source: 'dns' });
    expect([...set.endpoints.keys()]).toEqual(['10.0.0.1', '10.0.0.2']);
    set.update(answer([{ address: '10.0.0.2', family: 4, port: 80, terminating: true }]));
    expect(set.pickFirst()!.address.address).toBe('10.0.0.2');
    set.update(answer([{ address: '10.0.0.2', family: 4, port: 81 }]));
    expect(removed).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect(set.pickFirst()!.address.port).toBe(81);
    set.update(answer([]));
    expect(set.pickFirst()).toBeUndefined();
  });
});
